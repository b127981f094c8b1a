"""Shared test set-up: hermetic W&B (all its files in a temp folder, off unless a test turns it on)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def hermetic_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep every W&B file out of the home folder, finish any run a test left open, one thread per subprocess."""
    wandb_home = tmp_path_factory.getbasetemp() / "wandb_home"
    for variable in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(variable, str(wandb_home))
    monkeypatch.setenv("WANDB_MODE", os.environ.get("CLOCKS_TEST_WANDB_MODE", "disabled"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models in subprocesses: extra threads only add overhead
    yield
    import wandb

    wandb.finish()


#: A tiny GPT run: a second or two of training.
TINY = [
    "--config",
    str(REPO / "configs" / "quickstart.yaml"),
    "--trainer.max_steps=20",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.logger=false",
    "--data.rule.length=12",
    "--data.n_train=32",
    "--data.batch_size=16",
    "--model.n_layer=1",
    "--model.n_embd=16",
    "--model.n_head=2",
    "--clocks.num_samples=32",
    "--clocks.eval_steps=[10,20]",
    "--checkpoint.every_n_train_steps=10",
]


def clocks(*argv: str) -> tuple[int, str, str]:
    """Run ``clocks ARGV`` in this process: its exit status, stdout and stderr."""
    from lightning_clocks.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(argv))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 0
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny finished run (``TINY``, 20 steps, evaluations at 10 and 20), shared by the tests that read a run
    folder and its checkpoints; a test that changes it works on a copy."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    code, _, err = clocks("fit", *TINY, f"--trainer.default_root_dir={run_dir}")
    assert code == 0, err[-3000:]
    return run_dir


def quiet_trainer(run_dir: Path, max_steps: int, callbacks: list, **overrides: object):
    """A CPU Trainer without loggers, checkpoints, progress bars or sanity checks, for tests that train."""
    import lightning as L

    options = {
        "max_steps": max_steps,
        "max_epochs": -1,
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "callbacks": callbacks,
        "default_root_dir": run_dir,
        **overrides,
    }
    return L.Trainer(**options)


def run_clocks(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the ``clocks`` command in a subprocess from the repository root, as a researcher would."""
    return subprocess.run(
        [sys.executable, "-m", "lightning_clocks.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=REPO,
        timeout=300,
    )
