"""Shared test set-up: hermetic W&B (all its files in a temp folder, off unless a test turns it on)."""

from __future__ import annotations

import os
import subprocess
import sys
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
