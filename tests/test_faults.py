"""Faults never lose a run: torn writes, non-finite losses, a SIGKILL mid-run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, run_clocks

from lightning_clocks import results


def test_an_interrupted_writer_leaves_the_previous_complete_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "clocks.json"
    results.write_json(target, {"tau_rule": 1.0})

    def crash(*args: object) -> None:
        raise KeyboardInterrupt("killed between write and rename")

    monkeypatch.setattr(results.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        results.write_json(target, {"tau_rule": 2.0, "padding": "x" * 100_000})
    assert json.loads(target.read_text()) == {"tau_rule": 1.0}
    assert [path.name for path in tmp_path.iterdir()] == ["clocks.json"]  # no temporary file left behind


def cli(*args: str) -> subprocess.CompletedProcess:
    return run_clocks(*args, env={"PYTHONPATH": str(REPO / "tests")})


QUICK = [
    "fit",
    "--config",
    str(REPO / "configs" / "quickstart.yaml"),
    "--trainer.enable_progress_bar=false",
    "--clocks.num_samples=32",
]


def test_non_finite_loss_stops_with_a_clear_message_and_keeps_the_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = cli(
        *QUICK,
        f"--trainer.default_root_dir={run_dir}",
        "--trainer.max_steps=200",
        "--model.lr=1e30",
        "--clocks.eval_steps=[1,2,3,5,10,50,100,200]",
    )
    assert result.returncode == 1
    assert "clocks: error: training loss became nan" in result.stderr
    assert "last good state is saved in" in result.stderr
    assert (run_dir / "curves.csv").read_text().count("\n") >= 2
    summary = json.loads((run_dir / "clocks.json").read_text())
    assert summary["steps_trained"] < 200
    assert list((run_dir / "checkpoints").glob("last-good-step*.ckpt"))


@pytest.mark.slow
def test_sigkill_then_resume_ends_with_the_same_clocks(tmp_path: Path) -> None:
    schedule = "--clocks.eval_steps=[10,20,30,40,50,60,80]"
    common = [
        *QUICK,
        schedule,
        "--trainer.max_steps=80",
        "--checkpoint.every_n_train_steps=20",
        "--data.n_train=64",
        "--data.rule.length=12",
        "--trainer.logger=false",
    ]
    whole = cli(*common, f"--trainer.default_root_dir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr[-2000:]

    killed_dir = tmp_path / "killed"
    killed = cli(
        *common,
        f"--trainer.default_root_dir={killed_dir}",
        "--trainer.callbacks+=killer.SigkillAtStep",
        "--trainer.callbacks.step=55",
    )
    assert killed.returncode == -9  # SIGKILL: no clean-up ran
    rows_at_kill = (killed_dir / "curves.csv").read_text().splitlines()
    assert rows_at_kill[-1].startswith("50,")  # curves up to the kill survived, checkpoint is at step 40

    resumed = cli(*common, f"--trainer.default_root_dir={killed_dir}", "--ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (killed_dir / "curves.csv").read_text() == (tmp_path / "whole" / "curves.csv").read_text()
    ignore = {"evaluation_seconds"}
    whole_summary = json.loads((tmp_path / "whole" / "clocks.json").read_text())
    resumed_summary = json.loads((killed_dir / "clocks.json").read_text())
    assert {k: v for k, v in resumed_summary.items() if k not in ignore} == {
        k: v for k, v in whole_summary.items() if k not in ignore
    }


def test_a_sigterm_that_also_ends_wandb_still_saves_and_resumes_to_the_same_curves(tmp_path: Path) -> None:
    common = [
        *QUICK,
        "--trainer.max_steps=60",
        "--clocks.eval_steps=[10,20,30,40,50,60]",
        "--data.rule.length=12",
        "--data.n_train=64",
        "--model.n_layer=1",
        "--model.n_embd=16",
    ]
    straight = cli(*common, f"--trainer.default_root_dir={tmp_path / 'straight'}")
    assert straight.returncode == 0, straight.stderr[-2000:]
    run_dir = tmp_path / "run"
    offline = {"PYTHONPATH": str(REPO / "tests"), "WANDB_MODE": "offline"}
    stopped = run_clocks(
        *common,
        f"--trainer.default_root_dir={run_dir}",
        "--trainer.callbacks+=killer.KillWandbThenSigterm",
        "--trainer.callbacks.step=30",
        env=offline,
    )
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert "W&B logging skipped after the stop signal" in stopped.stderr
    assert "stopped by SIGTERM at step 30; saved" in stopped.stderr
    resumed = run_clocks(*common, f"--trainer.default_root_dir={run_dir}", "--ckpt_path=last", env=offline)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (run_dir / "curves.csv").read_text() == (tmp_path / "straight" / "curves.csv").read_text()
    starts = [path.name.rsplit("-", 1)[1] for path in (run_dir / "wandb").glob("offline-run-*")]
    assert starts == [(run_dir / "wandb_id").read_text().strip()] * 2
