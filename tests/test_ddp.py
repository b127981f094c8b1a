"""Two-process DDP on CPU (gloo) through the CLI, in a subprocess (never in-process ``ddp`` under pytest)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


@pytest.mark.slow
def test_ddp_run_matches_a_one_process_evaluation(tmp_path: Path) -> None:
    run_dir = tmp_path / "ddp"
    common = [sys.executable, "-m", "lightning_clocks.cli"]
    options = [
        "--config",
        str(REPO / "configs/quickstart.yaml"),
        "--trainer.enable_progress_bar=false",
        "--clocks.num_samples=101",
        "--clocks.eval_steps=[10,20,40]",
    ]
    env = {**os.environ, "WANDB_MODE": "offline"}
    fit = subprocess.run(
        [
            *common,
            "fit",
            *options,
            f"--trainer.default_root_dir={run_dir}",
            "--trainer.max_steps=40",
            "--trainer.strategy=ddp",
            "--trainer.devices=2",
            "--trainer.accelerator=cpu",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert fit.returncode == 0, fit.stderr[-3000:]
    with open(run_dir / "curves.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(row["step"]) for row in rows] == [10, 20, 40]  # one writer, no duplicated rows
    assert all(float(row["num_samples"]) == 101 for row in rows)  # M in total, split unevenly over 2 ranks
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1  # rank 0 only
    summary = json.loads((run_dir / "clocks.json").read_text())
    assert summary["evaluations"] == 3

    single = subprocess.run(
        [
            *common,
            "validate",
            *options,
            f"--trainer.default_root_dir={tmp_path / 'single'}",
            "--trainer.devices=1",
            f"--ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
            "--trainer.logger=false",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    validated = json.loads((tmp_path / "single" / "validate.json").read_text())
    assert validated["step"] == 40
    for name in ("validity", "copy_rate", "control_copy_rate", "novel_valid", "unique", "nn_distance", "num_samples"):
        assert validated["metrics"][name] == pytest.approx(float(rows[-1][name]), abs=1e-9), name
