"""Sweeps on a real single-node Slurm: submitted, capped, packed, pre-empted and requeued for real.

The session starts its own Slurm with ``tests/slurm/local_slurm.sh`` (root: installs Debian's slurm-wlm and munge
if missing) and skips these tests, with the reason, where it cannot (not root, no apt-get, no network to the
package mirror) or where ``CLOCKS_TEST_SLURM=0``. Every test goes through ``clocks sweep --slurm=true`` as a
cluster user would, and checks the finished run folders against an uninterrupted run of the same config:
``clocks.json`` present, ``curves.csv`` byte-identical, one W&B run id per run folder. A requeued task waits
about 120 s before it may start again (Slurm's normal delay); the tests release it after 3 s (``scontrol update
JobId=... StartTime=now+3``: a start within a second of the requeue fails with "Job credential revoked").
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import REPO, run_clocks

from lightning_clocks import results
from lightning_clocks.checkpoints import load_checkpoint

START_SCRIPT = REPO / "tests" / "slurm" / "local_slurm.sh"
QUICKSTART = str(REPO / "configs" / "quickstart.yaml")
#: A GPT small enough to train a few hundred steps in seconds on a shared CPU, evaluated often on few samples.
RUN = [
    "--trainer.max_steps=240",
    "--clocks.eval_steps=[10,20,40,60,80,100,120,140,160,180,200,220,240]",
    "--clocks.num_samples=32",
    "--data.rule.length=12",
    "--data.n_train=64",
    "--model.n_layer=1",
    "--model.n_embd=16",
    "--model.n_head=2",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]
#: Longest wait for one Slurm state change (a run starting, saving, finishing).
TIMEOUT = 180.0


def free_port() -> int:
    """A TCP port no process listens on now."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def local_slurm() -> Iterator[dict[str, str]]:
    """A single-node Slurm for this session (its environment: ``SLURM_CONF``); skips where Slurm cannot start, or
    when ``CLOCKS_TEST_SLURM=0`` (a root machine where the tests should not install or start Slurm)."""
    if os.environ.get("CLOCKS_TEST_SLURM") == "0":
        pytest.skip("CLOCKS_TEST_SLURM=0: no local Slurm started")
    state = Path(tempfile.mkdtemp(prefix="clocks-slurm-"))
    ports = {"CLOCKS_SLURM_CTLD_PORT": str(free_port()), "CLOCKS_SLURM_D_PORT": str(free_port())}
    started = subprocess.run(
        ["bash", str(START_SCRIPT), "start", str(state)],
        capture_output=True,
        text=True,
        env={**os.environ, **ports},
        timeout=600,
    )
    if started.returncode == 3:
        pytest.skip(started.stderr.strip().splitlines()[-1])
    environment = {"SLURM_CONF": str(state / "slurm.conf")}
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield environment
    finally:
        subprocess.run(["bash", str(START_SCRIPT), "stop", str(state)], capture_output=True, timeout=120)
        shutil.rmtree(state, ignore_errors=True)


class Slurm:
    """The session's Slurm as one test uses it: its commands, and every job the test submitted (cancelled at its
    end)."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = {**os.environ, **environment}
        self.jobs: list[str] = []
        self.released: set[str] = set()

    def command(self, *args: str) -> str:
        """Run a Slurm command (scontrol, scancel, ...); its output."""
        result = subprocess.run(args, capture_output=True, text=True, env=self.environment, timeout=60)
        assert result.returncode == 0, f"{args}: {result.stderr}"
        return result.stdout

    def sweep(self, out: Path, *args: str, fit: list[str] = RUN, wandb: str = "disabled") -> str:
        """Submit ``clocks sweep --slurm=true`` into ``out``; the array's job id."""
        submitted = run_clocks(
            "sweep",
            "--base_config",
            QUICKSTART,
            "--out",
            str(out),
            "--slurm=true",
            *args,
            "--",
            *fit,
            env={**self.environment, "WANDB_MODE": wandb},
        )
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        job = re.search(r"Submitted batch job (\d+)", submitted.stdout)
        assert job is not None, submitted.stdout
        self.jobs.append(job[1])
        return job[1]

    def show(self, task: str) -> dict[str, str]:
        """``scontrol show job TASK`` as a dict of its fields (JobState, Reason, Restarts, ...)."""
        text = self.command("scontrol", "show", "job", "-o", task)
        return dict(re.findall(r"(\w+)=(\S*)", text))

    def wait(self, task: str, done: Callable[[dict[str, str]], bool], what: str) -> dict[str, str]:
        """Poll ``task`` until ``done(fields)``, releasing it at once whenever it waits out a requeue's delay."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            fields = self.show(task)
            if done(fields):
                return fields
            self.release(fields)
            assert fields["JobState"] not in ("FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"), fields
            assert time.monotonic() < deadline, f"{task} never {what}: {fields}"
            time.sleep(0.2)

    def release(self, fields: dict[str, str]) -> None:
        """Let a task that waits out a requeue's delay start in 3 s, once per requeue (a start within a second of
        the requeue is refused; a later update would push the start back again)."""
        requeue = f"{fields['JobId']}/{fields['Restarts']}"
        if fields["JobState"] == "PENDING" and fields.get("Reason") == "BeginTime" and requeue not in self.released:
            self.released.add(requeue)
            self.command("scontrol", "update", f"JobId={fields['JobId']}", "StartTime=now+3")

    def finish(self, task: str) -> dict[str, str]:
        """Wait until ``task`` has completed (releasing its requeues); its fields."""
        return self.wait(task, lambda fields: fields["JobState"] == "COMPLETED", "completed")

    def cancel_all(self) -> None:
        """Cancel this test's jobs and wait until none of them runs."""
        for job in self.jobs:
            subprocess.run(["scancel", job], env=self.environment, capture_output=True, timeout=60)
        deadline = time.monotonic() + TIMEOUT
        while any(self.running(job) for job in self.jobs) and time.monotonic() < deadline:
            time.sleep(0.2)

    def running(self, job: str) -> bool:
        listing = self.command("squeue", "-h", "-j", job, "-t", "running,completing,configuring", "-o", "%i")
        return bool(listing.strip())


@pytest.fixture
def slurm(local_slurm: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Slurm]:
    """The session's Slurm for one test; the test's jobs are cancelled and waited for at its end."""
    for variable, value in local_slurm.items():
        monkeypatch.setenv(variable, value)
    cluster = Slurm(local_slurm)
    try:
        yield cluster
    finally:
        cluster.cancel_all()


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of an uninterrupted ``clocks fit`` of :data:`RUN` (seed 0), outside Slurm."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    result = run_clocks(
        "fit",
        f"--config={QUICKSTART}",
        "--seed_everything=0",
        "--data.seed=0",
        *RUN,
        f"--trainer.default_root_dir={run_dir}",
        env={"WANDB_MODE": "disabled"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def wandb_ids(run_dir: Path) -> set[str]:
    """The W&B run ids of every start of a run folder (offline: one ``offline-run-*-<id>`` folder per start)."""
    return {path.name.rsplit("-", 1)[1] for path in (run_dir / "wandb").glob("offline-run-*")}


def check_finished(run_dir: Path, straight_run: Path | None, wandb: bool) -> None:
    """A finished run folder: exit code 0, ``clocks.json``, curves equal to the straight run's, one W&B run id."""
    log = (run_dir / results.LOG_FILE).read_text()
    assert (run_dir / results.EXIT_FILE).read_text() == "0\n", log[-3000:]
    assert (run_dir / results.CLOCKS_FILE).is_file()
    if straight_run is not None:
        assert (run_dir / results.CURVES_FILE).read_bytes() == (straight_run / results.CURVES_FILE).read_bytes()
    assert not list(run_dir.rglob("hpc_ckpt_*.ckpt"))
    if wandb:
        assert wandb_ids(run_dir) == {(run_dir / results.WANDB_ID_FILE).read_text().strip()}


def wait_for_step(run_dir: Path, slurm: Slurm, task: str, after: int) -> None:
    """Wait until the run has evaluated a step beyond ``after`` (it is training in the current attempt)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        curves = run_dir / results.CURVES_FILE
        lines = curves.read_text().splitlines() if curves.exists() else []
        if len(lines) > 1 and int(lines[-1].split(",")[0]) > after:
            return
        fields = slurm.show(task)
        assert fields["JobState"] in ("PENDING", "RUNNING", "REQUEUED", "COMPLETING"), fields
        slurm.release(fields)
        assert time.monotonic() < deadline, f"{run_dir} never trained beyond step {after}"
        time.sleep(0.1)


def saved_step(run_dir: Path) -> int:
    """The step of the run's ``last.ckpt``."""
    return int(load_checkpoint(run_dir / results.CHECKPOINTS_FOLDER / results.LAST_CHECKPOINT)["global_step"])


# ----------------------------------------------------------------------------- tests
def test_a_capped_array_of_packed_tasks_finishes_every_run_and_reports_it(
    slurm: Slurm, tmp_path: Path, straight: Path
) -> None:
    out = tmp_path / "sweep with space"
    job = slurm.sweep(out, "--seeds=[0,1,2]", "--runs_per_task=2", "--max_concurrent=1", "--name=capped sweep")
    script = (out / results.SBATCH_FILE).read_text()
    assert "#SBATCH --array=0-1%1\n" in script
    # The cap: while task 0 runs, task 1 waits on the array's task limit.
    first = slurm.wait(f"{job}_0", lambda fields: fields["JobState"] == "RUNNING", "started")
    assert first["JobName"] == "capped"  # scontrol prints the name up to its space
    assert slurm.show(f"{job}_1")["Reason"] == "JobArrayTaskLimit"
    # Packed: the task starts its two runs together, so the second has started (its log exists: the shell opens
    # it as it launches the run) before the first has ended (its exit code is written as it ends). A check on
    # both runs' locks at once would race with a second run still importing under load.
    deadline = time.monotonic() + TIMEOUT
    while not (out / "seed-0" / results.EXIT_FILE).exists():
        assert time.monotonic() < deadline, "seed-0 never ended"
        time.sleep(0.05)
    assert (out / "seed-1" / results.LOG_FILE).exists(), "the task's second run had not started when its first ended"
    slurm.finish(f"{job}_0")
    slurm.finish(f"{job}_1")
    names = [f"seed-{seed}" for seed in range(3)]
    for name in names:
        check_finished(out / name, straight if name == "seed-0" else None, wandb=False)
    with open(out / results.SWEEP_TABLE) as table:
        rows = table.read().splitlines()
    assert all(",finished," in row for row in rows[1:]) and len(rows) == 4, rows  # refreshed by the tasks
    output = (out / f"slurm-{job}_0.out").read_text()
    assert "array task 0 starts (restart 0) on " in output
    status = run_clocks("sweep", "--out", str(out), "--status=true")
    assert status.returncode == 0 and status.stdout.strip().endswith("3 finished"), status.stdout + status.stderr
    report = run_clocks("report", str(out), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stdout + report.stderr


def test_a_run_preempted_by_the_warning_signal_then_by_scontrol_requeue_ends_as_if_uninterrupted(
    slurm: Slurm, tmp_path: Path, straight: Path
) -> None:
    out = tmp_path / "sweep"
    job = slurm.sweep(out, "--seeds=[0]", wandb="offline")
    task, run_dir = f"{job}_0", out / "seed-0"
    wait_for_step(run_dir, slurm, task, after=0)
    # What --signal=B:USR1@S sends before the time limit: the batch shell passes it on, the run saves, the shell
    # requeues the task.
    slurm.command("scancel", "--signal=USR1", "--batch", task)
    slurm.wait(task, lambda fields: fields["Restarts"] == "1", "requeued by its batch shell")
    first = saved_step(run_dir)
    wait_for_step(run_dir, slurm, task, after=first)
    # SIGTERM to every process of the job, W&B's service process included; Slurm requeues the task.
    slurm.command("scontrol", "requeue", task)
    fields = slurm.finish(task)
    assert fields["Restarts"] == "2"
    # The run notes whichever comes first: Slurm's SIGTERM, or the USR1 its batch shell passes on when it gets
    # SIGTERM itself.
    stops = re.findall(r"stopped by (SIGUSR1|SIGTERM) at step (\d+); saved", (run_dir / results.LOG_FILE).read_text())
    assert [name for name, _ in stops][:1] == ["SIGUSR1"] and len(stops) == 2, stops
    assert 0 < first == int(stops[0][1]) < int(stops[1][1]) < 240
    check_finished(run_dir, straight, wandb=True)
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 3  # three starts, one W&B run


def long_run(steps: int, *extra: str) -> list[str]:
    """:data:`RUN` trained for ``steps`` steps, evaluated every 20 (so that progress shows in ``curves.csv``)."""
    evaluations = ",".join(str(step) for step in range(20, steps + 1, 20))
    return [*RUN, f"--trainer.max_steps={steps}", f"--clocks.eval_steps=[{evaluations}]", *extra]


@pytest.mark.slow
def test_eight_preemptions_of_a_two_rank_ddp_run_save_eight_times_without_a_hang(slurm: Slurm, tmp_path: Path) -> None:
    fit = long_run(600, "--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu")
    reference = slurm.sweep(tmp_path / "reference", "--seeds=[0]", fit=fit)
    job = slurm.sweep(tmp_path / "preempted", "--seeds=[0]", fit=fit)
    script = (tmp_path / "preempted" / results.SBATCH_FILE).read_text()
    assert "#SBATCH --ntasks-per-node=2\n" in script and " srun " in script
    task, run_dir = f"{job}_0", tmp_path / "preempted" / "seed-0"
    saved = [0]
    for preemption in range(1, 9):
        wait_for_step(run_dir, slurm, task, after=saved[-1])
        slurm.command("scancel", "--signal=USR1", "--batch", task)
        # Each pre-emption ends its attempt (no hang) with a newer last.ckpt, and the task is requeued.
        slurm.wait(task, lambda fields, count=preemption: int(fields["Restarts"]) == count, "requeued")
        saved.append(saved_step(run_dir))
        assert saved[-1] > saved[-2], saved
    slurm.finish(task)
    slurm.finish(f"{reference}_0")
    log = (run_dir / results.LOG_FILE).read_text()
    assert log.count("stopped by SIGUSR1") == 2 * 8, log[-3000:]  # each of the two ranks, at each pre-emption
    check_finished(run_dir, tmp_path / "reference" / "seed-0", wandb=False)
