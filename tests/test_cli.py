"""The ``clocks`` command end to end, in subprocesses (as a researcher runs it)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from conftest import run_clocks as clocks

QUICK = [
    "--config",
    str(REPO / "configs" / "quickstart.yaml"),
    "--trainer.max_steps=40",
    "--trainer.enable_progress_bar=false",
    "--clocks.num_samples=64",
    "--clocks.num_evaluations=5",
]


def test_fit_writes_the_run_folder_with_wandb_offline(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = clocks(
        "fit",
        *QUICK,
        f"--trainer.default_root_dir={run_dir}",
        "--data.n_train=128",
        "--data.seed=3",
        "--data.rule.length=18",
        "--data.rule.group_size=3",
        env={"WANDB_MODE": "offline"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "clocks.json").read_text())
    assert summary["n_train"] == 128 and summary["seed"] == 3
    assert summary["rule"]["length"] == 18 and summary["rule"]["group_size"] == 3
    assert summary["model"]["sequence_length"] == 18  # linked from the rule
    assert summary["steps_trained"] == 40
    assert set(summary) >= {"tau_rule", "tau_mem", "window_open", "rule_threshold", "mem_threshold", "final_metrics"}
    with open(run_dir / "curves.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(row["step"]) for row in rows] == [10, 14, 20, 28, 40]
    assert {
        "validity",
        "part_validity",
        "copy_rate",
        "control_copy_rate",
        "mem_excess",
        "novel_valid",
        "unique",
        "nn_distance",
        "near_copy_rate",
        "num_samples",
    } <= set(rows[0])
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["data"]["n_train"] == 128
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1 and list(offline_runs[0].glob("*.wandb"))
    assert (run_dir / "csv").is_dir()


def test_validate_evaluates_a_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert clocks("fit", *QUICK, f"--trainer.default_root_dir={run_dir}").returncode == 0
    result = clocks(
        "validate",
        *QUICK,
        f"--trainer.default_root_dir={tmp_path / 'check'}",
        f"--ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "clocks/validity" in result.stdout
    fitted = json.loads((run_dir / "clocks.json").read_text())["final_metrics"]
    validated = json.loads((tmp_path / "check" / "validate.json").read_text())
    assert validated["step"] == 40
    assert fitted.pop("step") == 40
    assert validated["metrics"] == pytest.approx(fitted)


def test_print_config_resolves_the_quickstart() -> None:
    result = clocks(
        "fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--data.rule.group_size=4", "--print_config"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load(result.stdout)
    assert config["data"]["rule"]["init_args"]["group_size"] == 4
    assert config["clocks"]["rule_threshold"] == 0.5


#: Bad input in a subprocess, as a researcher meets it (the full table runs in-process: test_bad_input.py).
BAD_INPUT = [
    (["--data.rule.group_size=5"], "data.rule.group_size=5 does not divide data.rule.length=24"),
    (["--ckpt_path=/nonexistent.ckpt"], "ckpt_path=/nonexistent.ckpt does not exist"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_fails_before_training_and_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    run_dir = tmp_path / "run"
    result = clocks("fit", *QUICK, f"--trainer.default_root_dir={run_dir}", *args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert not (run_dir / "curves.csv").exists() and not (run_dir / "checkpoints").exists()


def test_an_unreadable_config_path_is_named() -> None:
    result = clocks("fit", "--config", "configs/does_not_exist.yaml")
    assert result.returncode == 2
    assert "does_not_exist.yaml" in result.stderr and "does not exist" in result.stderr


@pytest.fixture(scope="module")
def gpt_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("gpt_run")
    result = clocks(
        "fit",
        *QUICK,
        f"--trainer.default_root_dir={run_dir}",
        "--trainer.max_steps=10",
        "--clocks.eval_steps=[10]",
        "--trainer.logger=false",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data.rule.group_size=4"], "was trained on rule"),
        (["--model=dit"], "was trained with model _class_path='lightning_clocks.modules.AutoregressiveModule'"),
    ],
)
def test_a_checkpoint_from_another_rule_or_model_is_refused(
    tmp_path: Path, gpt_checkpoint: Path, args: list[str], message: str
) -> None:
    run_dir = tmp_path / "run"
    result = clocks("fit", *QUICK, f"--trainer.default_root_dir={run_dir}", f"--ckpt_path={gpt_checkpoint}", *args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert not (run_dir / "curves.csv").exists()
