"""Safety of runs: shared checkpoints never run code, reruns never touch the original, one process per run
folder, atomic and readable files, clean interrupts, and every bad input refused in one line."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import BinaryIO

import pytest
import torch
from conftest import REPO, TINY, clocks

from lightning_clocks import fit
from lightning_clocks.checkpoints import AtomicCheckpointIO, CheckpointError, load_checkpoint
from lightning_clocks.errors import RunInUse
from lightning_clocks.run_lock import LOCK_FILE, acquire, release


def clocks_process(*argv: str, **options: object) -> subprocess.Popen:
    """Start ``clocks ARGV`` in a subprocess from the repository root."""
    return subprocess.Popen(
        [sys.executable, "-m", "lightning_clocks", *argv],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def error_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that are ours (Lightning's and torch's warnings set aside)."""
    return [line for line in stderr.splitlines() if line.startswith("clocks:")]


def tree_hashes(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the hash of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# ----------------------------------------------------------------------------- malicious checkpoints
class Payload:
    """A pickle that runs ``function(*args)`` when it is loaded with full unpickling."""

    def __init__(self, function: object, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.function, self.args


def malicious_checkpoints(folder: Path, clean: Path) -> dict[str, Path]:
    """A loud payload (writes a marker file) and a silent one (copies a clean checkpoint over itself and returns
    a plausible checkpoint, so a full load would end normally)."""
    folder.mkdir(parents=True, exist_ok=True)
    loud, silent = folder / "loud.ckpt", folder / "silent.ckpt"
    clean_content = torch.load(clean, weights_only=True)
    torch.save({**clean_content, "state_dict": Payload(os.system, f"touch {folder / 'MARKER'}")}, loud)
    torch.save({**clean_content, "global_step": Payload(shutil.copyfile, str(clean), str(silent))}, silent)
    return {"loud": loud, "silent": silent}


def test_a_malicious_checkpoint_is_refused_by_every_loader(finished_run: Path, tmp_path: Path) -> None:
    clean = finished_run / "checkpoints" / "last.ckpt"
    payloads = malicious_checkpoints(tmp_path / "evil", clean)
    for kind, path in payloads.items():
        before = path.read_bytes()
        with pytest.raises(CheckpointError, match="weights-only"):
            load_checkpoint(path)
        with pytest.raises(CheckpointError):
            AtomicCheckpointIO().load_checkpoint(path)
        parts = fit.build_run(finished_run / "config.yaml")
        with pytest.raises(CheckpointError):
            fit.load_weights(parts.model, path)
        with pytest.raises(CheckpointError):
            fit.check_checkpoint_matches(str(path), parts.model, parts.data)
        # Every command that loads a checkpoint: fit from a file, validate, resume with `last`, basins, ti-fit.
        run = tmp_path / f"{kind}_fit"
        for argv in (
            ["fit", *TINY, f"--trainer.default_root_dir={run}", f"--ckpt_path={path}"],
            ["fit", *TINY, f"--trainer.default_root_dir={run}", f"--ckpt_path={path}", "--weights_only=false"],
            ["validate", *TINY, f"--trainer.default_root_dir={tmp_path / 'validate'}", f"--ckpt_path={path}"],
            [
                "ti-fit",
                "--config",
                str(REPO / "configs" / "ti_mlp.yaml"),
                "--trainer.logger=false",
                f"--trainer.default_root_dir={tmp_path / 'ti'}",
                f"--ckpt_path={path}",
            ],
        ):
            code, _, err = clocks(*argv)
            assert code == 2, err[-2000:]
            assert len(error_lines(err)) == 1 and str(path) in error_lines(err)[0], err[-2000:]
            assert not (run / "curves.csv").exists()
        assert path.read_bytes() == before
    # A run folder whose checkpoints were replaced: resuming with `last` and measuring basins refuse them.
    run = tmp_path / "shared_run"
    shutil.copytree(finished_run, run)
    for checkpoint in (run / "checkpoints").glob("*.ckpt"):
        shutil.copyfile(payloads["loud"], checkpoint)
    code, _, err = clocks("fit", *TINY, f"--trainer.default_root_dir={run}", "--ckpt_path=last")
    assert code == 1 and len(error_lines(err)) == 1 and "weights-only" in err, err[-2000:]
    code, _, err = clocks("basins", f"--run={run}", "--basins.num_train_targets=2", "--basins.num_control_targets=2")
    assert code != 0 and len(error_lines(err)) == 1 and "weights-only" in err, err[-2000:]
    assert not (tmp_path / "evil" / "MARKER").exists()


# ----------------------------------------------------------------------------- reruns
def test_a_saved_config_rerun_elsewhere_leaves_the_original_untouched(finished_run: Path, tmp_path: Path) -> None:
    saved = (finished_run / "config.yaml").read_text()
    assert "checkpoints" not in saved and "save_dir" not in saved, "config.yaml records a path derived from its run"
    before = tree_hashes(finished_run)
    for ckpt_path in ([], ["--ckpt_path=last"]):
        rerun = tmp_path / f"rerun{len(ckpt_path)}"
        code, _, err = clocks(
            "fit", "--config", str(finished_run / "config.yaml"), f"--trainer.default_root_dir={rerun}", *ckpt_path
        )
        assert code == 0, err[-3000:]
        assert (rerun / "checkpoints" / "last.ckpt").exists() and (rerun / "curves.csv").exists()
    assert tree_hashes(finished_run) == before


def test_an_old_config_naming_another_runs_folders_is_refused(finished_run: Path, tmp_path: Path) -> None:
    code, _, err = clocks(
        "fit",
        *TINY,
        f"--trainer.default_root_dir={tmp_path / 'new'}",
        f"--checkpoint.dirpath={finished_run / 'checkpoints'}",
    )
    assert code == 2 and "checkpoint.dirpath" in err and "lies in the run folder" in err, err[-2000:]
    assert not (tmp_path / "new").exists()


# ----------------------------------------------------------------------------- one process per run folder
def test_a_locked_run_folder_is_refused_and_a_stale_lock_taken_over(tmp_path: Path) -> None:
    run = tmp_path / "run"
    lock = acquire(run)  # held by this (live) process
    code, _, err = clocks("fit", *TINY, f"--trainer.default_root_dir={run}")
    assert code == RunInUse.exit_status == 75
    assert len(error_lines(err)) == 1 and f"process {os.getpid()}" in err and "is in use" in err
    assert not (run / "curves.csv").exists()
    release(lock)
    assert not lock.exists()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (run / LOCK_FILE).write_text(f'{{"host": "{socket.gethostname()}", "pid": {dead.pid}}}')
    code, _, err = clocks("fit", *TINY, f"--trainer.default_root_dir={run}")
    assert code == 0, err[-2000:]
    assert "taking over" in err
    assert not (run / LOCK_FILE).exists()


def test_two_fits_started_together_into_one_folder_train_one_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = ["fit", *TINY, f"--trainer.default_root_dir={run}", "--trainer.max_steps=200", "--clocks.eval_steps=[100]"]
    processes = [clocks_process(*argv) for _ in range(2)]
    results = [(process.wait(timeout=300), process.communicate()[1]) for process in processes]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0, results
    # The second either found the folder locked (75) or, if it started after the first ended, holding a run (2).
    assert codes[1] in (2, 75), results
    refused = next(err for code, err in results if code != 0)
    assert len(error_lines(refused)) == 1
    assert len(list((run / "checkpoints").glob("last*.ckpt"))) == 1


# ----------------------------------------------------------------------------- damaged files and full disks
@pytest.mark.parametrize("damage", ["truncated", "empty", "random"])
def test_an_unreadable_checkpoint_is_named_with_the_intact_one(finished_run: Path, tmp_path: Path, damage: str) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    last = run / "checkpoints" / "last.ckpt"
    content = last.read_bytes()
    last.write_bytes({"truncated": content[: len(content) // 2], "empty": b"", "random": os.urandom(4096)}[damage])
    code, _, err = clocks("fit", *TINY, f"--trainer.default_root_dir={tmp_path / 'other'}", f"--ckpt_path={last}")
    intact = run / "checkpoints" / "epoch=0-step=20.ckpt"
    assert intact.exists()
    assert code == 2 and len(error_lines(err)) == 1, err[-2000:]
    assert str(last) in err and f"--ckpt_path={intact}" in err
    # Resuming with `last` skips the damaged file (with a warning) and continues from the intact one.
    code, _, err = clocks(
        "fit",
        *TINY,
        f"--trainer.default_root_dir={run}",
        "--ckpt_path=last",
        "--trainer.max_steps=30",
        "--clocks.eval_steps=[10,20,30]",
    )
    assert code == 0, err[-2000:]
    assert "warning" in err and str(intact) in err
    assert load_checkpoint(last)["global_step"] == 30


def test_a_full_disk_leaves_the_previous_checkpoint_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "run" / "checkpoints" / "last.ckpt"
    target.parent.mkdir(parents=True)
    (tmp_path / "run" / "config.yaml").write_text("seed_everything: 0\n")
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 5}, target)
    before = target.read_bytes()

    def full_disk(checkpoint: object, stream: BinaryIO) -> None:
        """torch.save on a full disk: part of the file written, then torch's RuntimeError raised while handling the
        write's OSError (as measured on a full tmpfs)."""
        stream.write(b"PK\x03\x04 partial")
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")  # noqa: B904 (as torch does)

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match=r"could not be written \(the disk is full\)") as error:
        AtomicCheckpointIO().save_checkpoint({"state_dict": {}, "global_step": 6}, target)
    assert str(target) in str(error.value)
    assert target.read_bytes() == before
    assert sorted(path.name for path in target.parent.iterdir()) == ["last.ckpt"]


def test_a_full_tmpfs_leaves_the_previous_checkpoint_intact(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs on this machine")
    try:
        target = mount / "last.ckpt"
        AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(8)}, "global_step": 1}, target)
        before = target.read_bytes()
        with pytest.raises(CheckpointError, match=r"could not be written \(the disk is full\)"):
            AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(200_000)}, "global_step": 2}, target)
        assert target.read_bytes() == before and zipfile.is_zipfile(target)
        assert [path.name for path in mount.iterdir()] == ["last.ckpt"]
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# ----------------------------------------------------------------------------- permissions
def test_result_files_follow_the_umask(finished_run: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    expected = 0o666 & ~umask
    for name in (
        "config.yaml",
        "curves.csv",
        "clocks.json",
        "checkpoints/last.ckpt",
        "checkpoints/epoch=0-step=20.ckpt",
    ):
        assert (finished_run / name).stat().st_mode & 0o777 == expected, name


# ----------------------------------------------------------------------------- interrupts
def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until ``path`` exists (the run has reached its first evaluation), failing if the process ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize(("signal_number", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_saves_its_step_and_resumes_to_the_same_curves(
    tmp_path: Path, signal_number: int, status: int
) -> None:
    long_run = ["--trainer.max_steps=1500", "--clocks.eval_steps=[5,500,1500]", "--checkpoint.every_n_train_steps=5000"]
    straight = tmp_path / "straight"
    code, _, err = clocks("fit", *TINY, f"--trainer.default_root_dir={straight}", *long_run[:2])
    assert code == 0, err[-2000:]
    run = tmp_path / "run"
    process = clocks_process("fit", *TINY, f"--trainer.default_root_dir={run}", *long_run)
    wait_for(run / "curves.csv", process)
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=120)
    assert process.returncode == status, err[-2000:]
    lines = error_lines(err)
    assert len(lines) == 1 and "stopped by SIG" in lines[0] and "continue with --ckpt_path last" in lines[0], err
    step = load_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"]
    assert 5 <= step < 1500 and f"at step {step}" in lines[0]
    code, _, err = clocks("fit", *TINY, f"--trainer.default_root_dir={run}", *long_run, "--ckpt_path=last")
    assert code == 0, err[-2000:]
    assert (run / "curves.csv").read_text() == (straight / "curves.csv").read_text()
