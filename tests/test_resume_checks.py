"""A resumed run is the run it says it is: a resume that changes the experiment is refused in one line, the
allowed changes are recorded, Lightning's Slurm pick-up goes through the same check, and paths planted in a
checkpoint's callback state never let Lightning touch files outside the run."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import TINY, clocks
from test_bad_input import QUICKSTART
from test_safety import error_lines, tree_hashes

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.checkpoints import AtomicCheckpointIO
from lightning_clocks.data import RuleDataModule
from lightning_clocks.errors import ConfigError, RunFailure
from lightning_clocks.modules import AutoregressiveModule
from lightning_clocks.results import read_curves, write_json
from lightning_clocks.resume import CONFIG_KEY, RESUMES_KEY, check_resume, flatten, may_change
from lightning_clocks.rules import GroupParity
from lightning_clocks.run_lock import LOCK_FILE, acquire, release


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of ``run_dir`` (a moved run folder, which must still resume) in ``tmp_path``."""
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def resume(run_dir: Path, *overrides: str) -> tuple[int, str]:
    """``clocks fit`` resuming ``run_dir`` from its own config with ``overrides``: exit status and stderr."""
    code, _, err = clocks(
        "fit",
        "--config",
        str(run_dir / "config.yaml"),
        f"--trainer.default_root_dir={run_dir}",
        "--ckpt_path=last",
        *overrides,
    )
    return code, err


#: (overrides on resume, what the one refusal line must say)
CHANGED_EXPERIMENT = [
    (["--model.lr=0.05"], "model.lr: 0.001 there, 0.05 here"),
    (["--data.n_train=8"], "data.n_train: 32 there, 8 here"),
    (["--clocks.num_samples=16", "--clocks.sampling_seed=5"], "clocks.num_samples: 32 there, 16 here; clocks.sam"),
    (["--data.seed=3"], "data.seed: 0 there, 3 here"),
    (["--seed_everything=7"], "seed_everything: 0 there, 7 here"),
    (["--clocks.rule_threshold=0.7"], "clocks.rule_threshold: 0.5 there, 0.7 here"),
    (["--trainer.max_steps=10", "--clocks.eval_steps=[10]"], "trainer.max_steps=10 is below the step 20 of ckpt"),
]


@pytest.mark.parametrize(("overrides", "message"), CHANGED_EXPERIMENT, ids=[o[0] for o, _ in CHANGED_EXPERIMENT])
def test_a_resume_that_changes_the_experiment_is_refused_and_writes_nothing(
    finished_run: Path, tmp_path: Path, overrides: list[str], message: str
) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    before = tree_hashes(run_dir)
    code, err = resume(run_dir, *overrides)
    assert code == 2, err[-2000:]
    assert len(error_lines(err)) == 1 and message in error_lines(err)[0], err[-2000:]
    assert tree_hashes(run_dir) == before


def test_a_checkpoint_without_a_stored_config_is_compared_with_its_run_folders_config(
    finished_run: Path, tmp_path: Path
) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    for path in (run_dir / "checkpoints").glob("*.ckpt"):
        checkpoint = torch.load(path, weights_only=True)
        assert CONFIG_KEY in checkpoint
        del checkpoint[CONFIG_KEY]  # as written before configs were stored
        torch.save(checkpoint, path)
    code, err = resume(run_dir, "--model.lr=0.05")
    assert code == 2
    assert f"({run_dir / 'config.yaml'}): model.lr: 0.001 there, 0.05 here" in error_lines(err)[0]


def test_allowed_changes_resume_the_run_and_are_recorded_in_its_checkpoints(finished_run: Path, tmp_path: Path) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    code, err = resume(run_dir, "--trainer.max_steps=30", "--clocks.eval_steps=[10,20,30]")
    assert code == 0, err[-3000:]
    assert "clocks: note: resuming" in err and "trainer.max_steps: 20 -> 30" in err
    assert read_curves(run_dir / "curves.csv")["step"] == [10, 20, 30]
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 30
    changes = {
        "clocks.eval_steps": [[10, 20], [10, 20, 30]],
        "trainer.default_root_dir": [str(finished_run), str(run_dir)],  # the copy is a moved run folder
        "trainer.max_steps": [20, 30],
    }
    assert checkpoint[RESUMES_KEY] == [{"step": 20, "changes": changes}]
    assert flatten(checkpoint[CONFIG_KEY])["trainer.max_steps"] == 30


def test_the_resume_table_allows_logging_and_refuses_the_experiment() -> None:
    for key in ("trainer.max_steps", "wandb.project", "checkpoint.every_n_train_steps", "clocks.eval_steps"):
        assert may_change(key), key
    for key in ("model.lr", "data.n_train", "data.rule.group_size", "clocks.num_samples", "seed_everything"):
        assert not may_change(key), key
    assert not may_change("wandbx") and not may_change("trainer.max_steps_extra")


def test_under_slurm_a_plain_fit_never_resumes_another_experiments_hpc_checkpoint(
    finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "other"
    run_dir.mkdir()
    shutil.copy(finished_run / "checkpoints" / "last.ckpt", run_dir / "hpc_ckpt_1.ckpt")
    for name, value in {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "clocks", "SLURM_JOB_ID": "42"}.items():
        monkeypatch.setenv(name, value)
    before = tree_hashes(run_dir)
    code, _, err = clocks("fit", *TINY, "--model.lr=0.01", f"--trainer.default_root_dir={run_dir}")
    assert code == 2, err[-2000:]
    assert f"ckpt_path={run_dir / 'hpc_ckpt_1.ckpt'} is another experiment" in error_lines(err)[0], err[-2000:]
    assert "model.lr: 0.001 there, 0.01 here" in error_lines(err)[0]
    assert tree_hashes(run_dir) == before


# ----------------------------------------------------------------------------- paths in callback states
def plant_paths(checkpoint_file: Path, paths: dict[str, str]) -> None:
    """Rewrite the ModelCheckpoint state of ``checkpoint_file`` (still weights-only loadable) with ``paths``."""
    checkpoint = torch.load(checkpoint_file, weights_only=True)
    (key,) = [key for key in checkpoint["callbacks"] if key.startswith("ModelCheckpoint")]
    state = checkpoint["callbacks"][key]
    state.update({field: path for field, path in paths.items() if field != "best_k_models"})
    state["best_k_models"] = {paths["best_k_models"]: torch.tensor(0.0)} if "best_k_models" in paths else {}
    torch.save(checkpoint, checkpoint_file)


def precious_files(outside: Path) -> dict[str, Path]:
    """A folder and a file outside the run that nothing may touch, and links to them inside ``checkpoints``."""
    outside.mkdir()
    (outside / "precious").mkdir()
    (outside / "precious" / "data.txt").write_text("keep me")
    (outside / "file.ckpt").write_text("keep me too")
    return {"folder": outside / "precious", "file": outside / "file.ckpt"}


def test_a_checkpoint_whose_callback_state_leads_out_of_the_run_is_refused(finished_run: Path, tmp_path: Path) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    precious = precious_files(tmp_path / "outside")
    folder = run_dir / "checkpoints"
    (folder / "link.ckpt").symlink_to(precious["folder"], target_is_directory=True)
    last = folder / "last.ckpt"
    for planted in (
        {"best_model_path": f"{folder}/../../outside/precious"},
        {"last_model_path": str(folder / "link.ckpt")},
        {"best_k_models": f"{folder}/../../outside/file.ckpt"},
    ):
        shutil.copy(finished_run / "checkpoints" / "last.ckpt", last)
        plant_paths(last, planted)
        code, err = resume(run_dir, "--trainer.max_steps=40", "--clocks.eval_steps=[10,20,40]")
        assert code == 2, err[-2000:]
        assert "leads out of the run's checkpoint folder" in error_lines(err)[0], err[-2000:]
    assert (precious["folder"] / "data.txt").read_text() == "keep me"
    assert precious["file"].read_text() == "keep me too"


def test_lightning_never_removes_files_outside_the_run_after_a_resume_that_saves_and_prunes(tmp_path: Path) -> None:
    """The load-time guard alone (no CLI check): a resume saves and prunes every 10 steps, with ``..`` paths and
    links to a folder and a file outside planted in the ModelCheckpoint state it restores."""
    precious = precious_files(tmp_path / "outside")
    run_dir = tmp_path / "run"
    folder = run_dir / "checkpoints"

    def train(max_steps: int, ckpt_path: str | None = None) -> None:
        L.seed_everything(0)
        module = AutoregressiveModule(sequence_length=12, vocab_size=2, n_layer=1, n_head=2, n_embd=16)
        data = RuleDataModule(GroupParity(12, 3), n_train=32, batch_size=16, seed=0)
        checkpointing = L.pytorch.callbacks.ModelCheckpoint(
            dirpath=folder, save_last=True, every_n_train_steps=10, enable_version_counter=False
        )
        trainer = L.Trainer(
            max_steps=max_steps,
            max_epochs=-1,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[ClockCallback(eval_steps=[10], num_samples=16), checkpointing],
            plugins=[AtomicCheckpointIO([folder])],
            default_root_dir=run_dir,
        )
        trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)

    train(10)
    (folder / "link.ckpt").symlink_to(precious["folder"], target_is_directory=True)
    (folder / "filelink.ckpt").symlink_to(precious["file"])
    plant_paths(
        folder / "last.ckpt",
        {
            "best_model_path": str(folder / "link.ckpt"),
            "last_model_path": f"{folder}/../../outside/precious",
            "kth_best_model_path": str(folder / "filelink.ckpt"),
            "best_k_models": str(folder / "filelink.ckpt"),
        },
    )
    train(30, str(folder / "last.ckpt"))
    assert torch.load(folder / "last.ckpt", weights_only=True)["global_step"] == 30
    assert (precious["folder"] / "data.txt").read_text() == "keep me"
    assert precious["file"].read_text() == "keep me too"
    assert (folder / "link.ckpt").is_symlink() and (folder / "filelink.ckpt").is_symlink()


# ----------------------------------------------------------------------------- one writer per run folder
def test_validate_writes_its_validate_json_and_nothing_else_into_the_run(finished_run: Path, tmp_path: Path) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    before = tree_hashes(run_dir)
    config, checkpoint = str(run_dir / "config.yaml"), str(run_dir / "checkpoints" / "last.ckpt")
    code, _, err = clocks(
        "validate", "--config", config, f"--trainer.default_root_dir={run_dir}", f"--ckpt_path={checkpoint}"
    )
    assert code == 0, err[-3000:]
    after = tree_hashes(run_dir)
    assert after.pop("validate.json") and after == before
    code, err = resume(run_dir, "--trainer.max_steps=30", "--clocks.eval_steps=[10,20,30]")
    assert code == 0, err[-3000:]


def test_an_ensemble_refuses_a_member_folder_that_a_fit_holds(tmp_path: Path) -> None:
    out = tmp_path / "ensemble"
    lock = acquire(out / "seed-1")  # this live process stands for a fit training that folder
    try:
        code, _, err = clocks(
            "ensemble", f"--base_config={QUICKSTART}", "--seeds=[0,1]", f"--out={out}", "--", *TINY[2:]
        )
    finally:
        release(lock)
    assert code == 75, err[-2000:]
    assert "is in use" in error_lines(err)[0]
    assert not list(out.rglob("*.csv"))


def test_basins_writing_into_a_run_refuses_a_run_that_a_fit_holds(finished_run: Path, tmp_path: Path) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    before = tree_hashes(run_dir)
    lock = acquire(run_dir)
    try:
        code, _, err = clocks("basins", f"--run={run_dir}")
    finally:
        release(lock)
    assert code == 75, err[-2000:]
    assert tree_hashes(run_dir) == before


def test_a_run_folder_that_cannot_be_locked_ends_in_one_line_and_leaves_no_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("lightning_clocks.run_lock.json.dump", full_disk)
    with pytest.raises(RunFailure, match="cannot be written \\(No space left on device\\); nothing was started"):
        acquire(tmp_path / "run")
    assert not (tmp_path / "run" / LOCK_FILE).exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (os.fsdecode(b"run-\xff"), "is not UTF-8 text; allowed: UTF-8 names"),
        ("r" * 256, "has a folder name of 256 bytes; allowed: at most 255 bytes"),
        ("run\nname", "holds a control character"),
    ],
    ids=["not-utf8", "too-long", "newline"],
)
def test_unusual_run_folder_names_are_refused_in_one_line(tmp_path: Path, name: str, message: str) -> None:
    code, _, err = clocks("fit", *TINY, f"--trainer.default_root_dir={tmp_path / name}")
    assert code == 2, err[-2000:]
    assert len(error_lines(err)) == 1 and message in error_lines(err)[0], err[-2000:]
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoints_folder_linked_to_another_runs_is_refused(finished_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "second"
    run_dir.mkdir()
    (run_dir / "checkpoints").symlink_to(finished_run / "checkpoints", target_is_directory=True)
    before = tree_hashes(finished_run)
    code, _, err = clocks("fit", *TINY, f"--trainer.default_root_dir={run_dir}")
    assert code == 2, err[-2000:]
    assert "checkpoints is a link to" in error_lines(err)[0], err[-2000:]
    assert tree_hashes(finished_run) == before


# ----------------------------------------------------------------------------- reports stay inside their folders
def test_a_report_never_follows_a_linked_report_folder_or_run_names_out_of_its_folder(
    finished_run: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep me")
    sent = tmp_path / "sent"
    shutil.copytree(finished_run, sent / "run")
    (sent / "report").symlink_to(outside, target_is_directory=True)
    code, _, err = clocks("report", str(sent / "run"), f"--out={sent / 'report'}")
    assert code == 2 and "is a link to" in error_lines(err)[0], err[-2000:]
    (sent / "report").unlink()
    for name in ("../outside", str(outside), "run/../../outside"):
        write_json(sent / "sweep.json", {"runs": [{"name": name, "values": {}, "seed": 0}]})
        code, _, err = clocks("report", str(sent))
        assert code == 2, err[-2000:]
        assert "that is not a folder inside" in error_lines(err)[0], err[-2000:]
    (sent / "linked").symlink_to(outside, target_is_directory=True)
    write_json(sent / "sweep.json", {"runs": [{"name": "linked", "values": {}, "seed": 0}]})
    code, _, err = clocks("report", str(sent))
    assert code == 2 and "is a link to" in error_lines(err)[0], err[-2000:]
    assert [path.name for path in outside.iterdir()] == ["keep.txt"] and not (sent / "report").exists()


def test_a_report_folder_that_cannot_be_created_ends_in_one_line(finished_run: Path, tmp_path: Path) -> None:
    out = tmp_path / ("r" * 300)  # longer than a name may be: the OS refuses it, as it refuses a full disk
    code, _, err = clocks("report", str(finished_run), f"--out={out}")
    assert code == 1, err[-2000:]
    assert len(error_lines(err)) == 1 and "cannot be written (File name too long)" in error_lines(err)[0]
    assert "Traceback" not in err


def test_extra_callbacks_may_change_on_resume_but_this_packages_callbacks_are_compared(tmp_path: Path) -> None:
    basins = {"class_path": "lightning_clocks.basins.BasinCallback", "init_args": {"sigmas": [0.5, 1.0]}}
    killer = {"class_path": "killer.SigkillAtStep", "init_args": {"step": 55}}
    checkpoint = {"global_step": 5, CONFIG_KEY: {"trainer": {"callbacks": [basins, killer], "max_steps": 10}}}
    changes = check_resume(tmp_path / "last.ckpt", checkpoint, {"trainer": {"callbacks": [basins], "max_steps": 10}})
    assert changes == {"trainer.callbacks": ([killer], [])}
    other = {**basins, "init_args": {"sigmas": [2.0]}}
    with pytest.raises(ConfigError, match=r"trainer.callbacks of lightning_clocks: \[\{'class_path'"):
        check_resume(tmp_path / "last.ckpt", checkpoint, {"trainer": {"callbacks": other, "max_steps": 10}})
