"""A resumed run continues its curves: same rows and clocks as an uninterrupted run."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import lightning as L
from conftest import REPO, quiet_trainer

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.data import RuleDataModule
from lightning_clocks.modules import AutoregressiveModule
from lightning_clocks.results import read_curves
from lightning_clocks.rules import GroupParity

SCHEDULE = [5, 10, 20, 30, 40, 50, 60]


def run(run_dir: Path, max_steps: int, ckpt_path: str | None = None) -> ClockCallback:
    L.seed_everything(0)
    module = AutoregressiveModule(sequence_length=12, vocab_size=2, n_layer=1, n_head=2, n_embd=16, lr=3e-3)
    data = RuleDataModule(GroupParity(12, 3), n_train=32, batch_size=16, seed=0)
    clock = ClockCallback(eval_steps=[step for step in SCHEDULE if step <= max_steps], num_samples=64)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=run_dir / "checkpoints", save_last=True, every_n_train_steps=30
    )
    trainer = quiet_trainer(run_dir, max_steps, [clock, checkpoint], enable_checkpointing=True)
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    return clock


def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    whole = run(tmp_path / "whole", 60)
    run(tmp_path / "parts", 30)
    resumed = run(tmp_path / "parts", 60, ckpt_path=str(tmp_path / "parts" / "checkpoints" / "last.ckpt"))
    assert read_curves(tmp_path / "parts" / "curves.csv") == read_curves(tmp_path / "whole" / "curves.csv")
    assert [row["step"] for row in resumed.rows] == SCHEDULE
    assert resumed.clocks() == whole.clocks()


def test_cli_resume_with_ckpt_path_last_continues_the_curves(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    common = [
        sys.executable,
        "-m",
        "lightning_clocks.cli",
        "fit",
        "--config",
        str(REPO / "configs/quickstart.yaml"),
        f"--trainer.default_root_dir={run_dir}",
        "--trainer.enable_progress_bar=false",
        "--clocks.num_samples=32",
    ]
    first = subprocess.run(
        [*common, "--trainer.max_steps=20", "--clocks.eval_steps=[10,20]"], capture_output=True, text=True, cwd=REPO
    )
    assert first.returncode == 0, first.stderr[-3000:]
    second = subprocess.run(
        [*common, "--trainer.max_steps=40", "--clocks.eval_steps=[10,20,30,40]", "--ckpt_path=last"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    with open(run_dir / "curves.csv") as stream:
        steps = [int(row["step"]) for row in csv.DictReader(stream)]
    assert steps == [10, 20, 30, 40]
