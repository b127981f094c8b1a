"""An ensemble of seeds in one process: each member trains and measures its clocks exactly like its own run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO

from lightning_clocks.cli import main
from lightning_clocks.ensemble.cli import fit_ensemble
from lightning_clocks.ensemble.module import EnsembleModule
from lightning_clocks.errors import ConfigError
from lightning_clocks.fit import run_cli
from lightning_clocks.relational.module import PairMLPModule
from lightning_clocks.report.runs import Thresholds, load_runs
from lightning_clocks.results import CLOCKS_FILE, CURVES_FILE, read_curves

#: Tiny models, with weight decay and warm-up so that the ensemble's optimizer must match the single run's.
MODELS = {
    "gpt": {
        "class_path": "lightning_clocks.modules.AutoregressiveModule",
        "init_args": {"n_layer": 1, "n_head": 2, "n_embd": 16},
    },
    "dit": {
        "class_path": "lightning_clocks.modules.DiffusionModule",
        "init_args": {"depth": 1, "width": 16, "heads": 2, "sampler_steps": 3, "p_mean": 0.0},
    },
}


def write_config(folder: Path, family: str) -> Path:
    """A config of 8 steps on 8-bit group parity, with the given model family."""
    model = MODELS[family]
    config = {
        "trainer": {"max_steps": 8, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False},
        "model": {**model, "init_args": {**model["init_args"], "lr": 1e-2, "weight_decay": 0.1, "warmup_steps": 3}},
        "data": {
            "rule": {"class_path": "lightning_clocks.rules.GroupParity", "init_args": {"length": 8, "group_size": 2}},
            "n_train": 6,
            "batch_size": 8,
        },
        "clocks": {"eval_steps": [2, 4, 8], "num_samples": 32, "sample_batch_size": 32},
    }
    path = folder / f"{family}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def without_key_bias(name: str, parameter: torch.Tensor) -> torch.Tensor:
    """``parameter`` without its attention key bias, if it has one.

    Softmax attention ignores a bias added to every key, so the key bias gets a gradient of rounding
    noise only, which Adam scales up to steps of about ``lr * noise / eps``: it differs between any two
    ways of computing the same run. It does not change what the model computes.
    """
    if name.endswith(("c_attn.bias", "in_proj_bias")):
        query, _, value = parameter.chunk(3)
        return torch.cat([query, value])
    return parameter


@pytest.mark.parametrize("family", ["gpt", "dit"])
def test_each_member_trains_and_measures_like_its_own_run(tmp_path: Path, family: str) -> None:
    config = str(write_config(tmp_path, family))
    seeds = [2, 1]
    ensemble = fit_ensemble(config, seeds, [], str(tmp_path / "ensemble")).lightning_module
    for index, seed in enumerate(seeds):
        run_dir = tmp_path / f"single-{seed}"
        seed_options = [f"--seed_everything={seed}", f"--data.seed={seed}"]
        options = [*seed_options, "--trainer.logger=false", f"--trainer.default_root_dir={run_dir}"]
        single = run_cli(["fit", "--config", config, *options])
        member = ensemble.member(index)
        for (name, expected), actual in zip(single.model.named_parameters(), member.parameters(), strict=True):
            torch.testing.assert_close(
                without_key_bias(name, actual), without_key_bias(name, expected), rtol=0, atol=1e-5, msg=name
            )
        member_dir = tmp_path / "ensemble" / f"seed-{seed}"
        assert read_curves(member_dir / CURVES_FILE) == read_curves(run_dir / CURVES_FILE)
        member_summary, single_summary = (
            json.loads((folder / CLOCKS_FILE).read_text()) for folder in (member_dir, run_dir)
        )
        for summary in (member_summary, single_summary):
            summary.pop("evaluation_seconds")
        assert member_summary == single_summary
        assert member_summary["seed"] == seed and member_summary["steps_trained"] == 8


def test_stop_when_memorized_waits_for_every_member(tmp_path: Path) -> None:
    config = yaml.safe_load(write_config(tmp_path, "gpt").read_text())
    config["trainer"]["max_steps"] = 200
    config["model"]["init_args"]["lr"] = 3e-2
    config["data"]["n_train"] = 2
    stop = {"mem_threshold": 0.5, "stop_when_memorized": True, "stop_copy_rate": 0.8}
    config["clocks"] = {**config["clocks"], "eval_steps": list(range(5, 201, 5)), **stop}
    path = tmp_path / "memorize.yaml"
    path.write_text(yaml.safe_dump(config))
    trainer = fit_ensemble(str(path), [0, 1, 2], [], str(tmp_path / "ensemble"))
    curves = [read_curves(tmp_path / "ensemble" / name / CURVES_FILE) for name in trainer.lightning_module.names]
    first_memorized = [
        next(step for step, rate in zip(member["step"], member["copy_rate"], strict=True) if rate >= 0.8)
        for member in curves
    ]
    assert trainer.global_step < 200
    assert min(first_memorized) < trainer.global_step  # a member that memorized first went on training
    assert all(member["copy_rate"][-1] >= 0.8 and member["step"][-1] == trainer.global_step for member in curves)


def run_ensemble(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``clocks ensemble ARGS`` (or ``clocks report ...`` when ARGS starts with ``report``) in this process: its
    exit status, stdout and stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args) if args[0] == "report" else ["ensemble", *args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_clocks_report_reads_every_member(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ensemble"
    status, stdout, _ = run_ensemble(
        capsys, "--base_config", str(write_config(tmp_path, "gpt")), "--seeds=[0,1,2]", f"--out={out}"
    )
    assert status == 0
    # fit's closing line, once per member, with the clocks rounded as fit rounds them
    member_line = r"\[ensemble\] tau_rule=(\d+|never) tau_mem=(\d+|never) window=.* after 8 steps; run folder: "
    assert re.search(f"^{member_line}{re.escape(str(out / 'seed-2'))}$", stdout, re.MULTILINE)
    runs = load_runs([out], Thresholds())
    assert sorted(run.seed for run in runs) == [0, 1, 2]
    assert all(run.clocks is not None and run.curves["step"] == [2, 4, 8] for run in runs)
    status, stdout, _ = run_ensemble(capsys, "report", str(out))
    assert status == 0 and "Runs: 3 (3 finished, 3 with curves)." in stdout
    assert {path.name for path in (out / "report" / "figures").glob("run_*.png")} == {
        f"run_seed-{seed}.png" for seed in (0, 1, 2)
    }


BAD_INPUT = [
    ([], "seeds"),
    (["--seeds=[0]", "--base_config=does_not_exist.yaml"], "does_not_exist.yaml"),
    (["--seeds=[0,1,0]"], "seeds=[0, 1, 0] is invalid"),
    (["--seeds=[0,one]"], "seeds"),
    (["--seeds=[0]", "--", "--data.seed=3"], "['--seed_everything', '--data.seed'] are set per member from --seeds"),
    (["--seeds=[0]", "--", "--model=transformer"], "model='transformer' is unknown; allowed: ['dit', 'gpt']"),
    (["--seeds=[0]", "--", "--trainer.gradient_clip_val=1.0"], "trainer.gradient_clip_val=1.0 is not supported"),
    (["--seeds=[0]", "--", "--trainer.devices=2"], "trainer.devices=2 gives 2 processes, but an ensemble trains"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_fails_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    config = str(write_config(tmp_path, "gpt"))
    status, _, stderr = run_ensemble(capsys, "--base_config", config, f"--out={tmp_path / 'ensemble'}", *args)
    assert status == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / "ensemble").exists()


def test_extra_trainer_callbacks_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    config = str(REPO / "configs" / "basins_dit_cpu.yaml")
    status, _, stderr = run_ensemble(capsys, "--base_config", config, "--seeds=[0,1]")
    assert status == 2
    assert "trainer.callbacks is not supported by clocks ensemble" in stderr


def test_a_folder_holding_runs_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    held = tmp_path / "ensemble" / "seed-1" / CURVES_FILE
    held.parent.mkdir(parents=True)
    held.write_text("step,validity\n")
    config = str(write_config(tmp_path, "gpt"))
    status, _, stderr = run_ensemble(capsys, "--base_config", config, "--seeds=[0,1]", f"--out={tmp_path / 'ensemble'}")
    assert status == 2
    assert f"out={tmp_path / 'ensemble'} already holds runs in ['{held.parent}']" in stderr
    assert held.read_text() == "step,validity\n"


def test_a_model_without_a_vmappable_loss_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model=PairMLPModule cannot be trained as an ensemble; allowed: \["):
        EnsembleModule([PairMLPModule(), PairMLPModule()], ["seed-0", "seed-1"])


def test_a_non_finite_loss_names_the_failed_members(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path, "gpt"))
    out = f"--out={tmp_path / 'ensemble'}"
    status, _, stderr = run_ensemble(capsys, "--base_config", config, "--seeds=[0,1]", out, "--", "--model.lr=1e30")
    assert status == 1
    assert "clocks: error: training loss of ['seed-0', 'seed-1'] became non-finite after" in stderr
