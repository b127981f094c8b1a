"""Campaign features of ``clocks fit``: one W&B run per run folder across resumes, the W&B options, the progress
bar over steps and the closing line; and what the package ships (license, types, citation, image)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from conftest import run_clocks as clocks

from lightning_clocks import __version__, feedback
from lightning_clocks.errors import ConfigError
from lightning_clocks.feedback import closing_line
from lightning_clocks.loggers import WandbOptions, default_loggers, keep_wandb_id, read_wandb_id
from lightning_clocks.results import write_json

TINY = [
    "--config",
    str(REPO / "configs" / "quickstart.yaml"),
    "--clocks.num_samples=32",
    "--data.rule.length=12",
    "--data.n_train=32",
]


def test_a_resumed_run_continues_its_wandb_run_and_fit_ends_with_its_clocks(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = clocks(
        "fit",
        *TINY,
        "--trainer.max_steps=10",
        "--clocks.eval_steps=[5,10]",
        f"--trainer.default_root_dir={run_dir}",
        env={"WANDB_MODE": "offline"},
    )
    assert first.returncode == 0, first.stderr[-3000:]
    run_id = read_wandb_id(run_dir)
    assert run_id is not None and re.fullmatch(r"[a-z0-9]{8}", run_id)
    closing = first.stdout.strip().splitlines()[-1]
    assert closing.startswith("[clocks] tau_rule=") and " tau_mem=" in closing and " window=" in closing
    # The W&B run's sync command is part of the closing line: nothing of W&B's follows it.
    assert (
        f"run folder: {run_dir.resolve()}; W&B offline: wandb sync {run_dir.resolve() / 'wandb'}/offline-run-"
        in closing
    )
    # The bar counts steps of max_steps and shows the latest evaluation's rates (not Lightning's "Epoch 0/-2").
    assert re.search(r"step: +100%\|.*\| 10/10 .*validity=[0-9.]+, copy_rate=[0-9.]+", first.stdout)
    assert "Epoch" not in first.stdout

    resumed = clocks(
        "fit",
        *TINY,
        "--trainer.max_steps=20",
        "--clocks.eval_steps=[5,10,20]",
        f"--trainer.default_root_dir={run_dir}",
        "--ckpt_path=last",
        "--trainer.enable_progress_bar=false",
        env={"WANDB_MODE": "offline"},
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert read_wandb_id(run_dir) == run_id
    offline_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert [path.name.rsplit("-", 1)[1] for path in offline_runs] == [run_id, run_id]
    record = next(offline_runs[0].glob("*.wandb")).read_bytes()
    assert b"group_parity" in record and b"N=32" in record and b"complexity=3" in record
    assert "after 20 steps" in resumed.stdout.strip().splitlines()[-1]


def test_wandb_options_reach_the_logger_and_validate_logs_no_wandb_run(tmp_path: Path) -> None:
    options = WandbOptions(project="p", entity="team", tags=["mine"], mode="offline", group="g")
    loggers, callbacks = default_loggers(str(tmp_path / "run"), "fit", options, ["group_parity", "N=32"])
    settings = loggers[1]._wandb_init
    assert (settings["project"], settings["entity"], settings["group"], settings["mode"]) == (
        "p",
        "team",
        "g",
        "offline",
    )
    assert (settings["job_type"], settings["resume"], settings["tags"]) == (
        "fit",
        "allow",
        ["group_parity", "N=32", "mine"],
    )
    assert len(callbacks) == 1 and not (tmp_path / "run" / "wandb_id").exists()  # written when the run starts
    loggers, callbacks = default_loggers(str(tmp_path / "run"), "validate", options, [])
    assert [type(logger).__name__ for logger in loggers] == ["CSVLogger"] and not callbacks
    assert len(default_loggers(str(tmp_path), "fit", WandbOptions(mode="disabled"), [])[0]) == 1
    with pytest.raises(ConfigError, match=r"wandb.mode='cloud' is unknown; allowed: \['online', 'offline'"):
        WandbOptions(mode="cloud")


def test_the_first_stored_wandb_id_wins(tmp_path: Path) -> None:
    assert keep_wandb_id(tmp_path, "aaaa1111") == "aaaa1111"
    assert keep_wandb_id(tmp_path, "bbbb2222") == "aaaa1111"
    assert (tmp_path / "wandb_id").read_text() == "aaaa1111\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["wandb_id"]


def test_wandb_options_on_the_command_line() -> None:
    result = clocks(
        "fit", *TINY, "--wandb.project=campaign", "--wandb.tags=[a,b]", "--wandb.mode=offline", "--print_config"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "project: campaign" in result.stdout and "mode: offline" in result.stdout
    bad = clocks("fit", *TINY, "--wandb.mode=cloud")
    assert bad.returncode == 2 and "wandb.mode='cloud' is unknown" in bad.stderr


def test_the_package_ships_its_license_types_citation_and_a_non_root_image() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == {"text": "MIT"}
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert project["tool"]["setuptools"]["package-data"]["lightning_clocks"] == ["py.typed"]
    assert (REPO / "lightning_clocks" / "py.typed").exists()
    assert yaml.safe_load((REPO / "CITATION.cff").read_text())["version"] == __version__
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "\nUSER clocks\n" in dockerfile and '".[plots,lm]"' in dockerfile and "cuda12.8" in dockerfile


def test_the_closing_line_words_every_kind_of_window(tmp_path: Path) -> None:
    assert closing_line(tmp_path) is None  # nothing measured
    summary = {"tau_rule": 87.2, "tau_mem": 540.0, "window_open": True, "window_log10": 0.792, "steps_trained": 2000}
    write_json(tmp_path / "clocks.json", summary)
    assert closing_line(tmp_path) == (
        f"[clocks] tau_rule=87 tau_mem=540 window=open, 0.79 decades after 2000 steps; run folder: {tmp_path.resolve()}"
    )
    write_json(tmp_path / "clocks.json", {**summary, "tau_mem": None, "window_log10": None})
    assert "tau_mem=never window=open (tau_mem not reached)" in closing_line(tmp_path)
    write_json(tmp_path / "clocks.json", {**summary, "tau_rule": 600.0, "window_open": False, "window_log10": -0.046})
    assert "tau_rule=600 tau_mem=540 window=closed after" in closing_line(tmp_path)
    # Without tau_rule the window is unknown, whether or not the model copies (docs/method.md, "Clocks").
    for tau_mem, shown in ((540.0, "540"), (None, "never")):
        write_json(tmp_path / "clocks.json", {**summary, "tau_rule": None, "tau_mem": tau_mem, "window_open": False})
        assert f"tau_rule=never tau_mem={shown} window=unknown after" in closing_line(tmp_path)
    assert closing_line(tmp_path, "W&B offline: wandb sync x").endswith(
        f"run folder: {tmp_path.resolve()}; W&B offline: wandb sync x"
    )


def test_sweep_progress_counts_runs_and_estimates_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 160.0, 220.0])
    monkeypatch.setattr(feedback.time, "monotonic", lambda: next(clock))
    progress = feedback.SweepProgress(3)
    assert progress.run_ended() == "[sweep] 1/3 done after 1m00s, ETA 2m00s"
    assert progress.run_ended() == "[sweep] 2/3 done after 2m00s, ETA 1m00s"
    assert feedback.duration_text(3725) == "1h02m" and feedback.duration_text(12) == "12s"


def test_every_clocks_key_gets_its_own_step_metric_and_the_summary_its_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning.pytorch.loggers import WandbLogger

    from lightning_clocks.callbacks import ClockCallback
    from lightning_clocks.callbacks.clock import clocks_to_wandb_summary
    from lightning_clocks.clocks import measure_clocks

    class FakeRun:
        def __init__(self) -> None:
            self.defined: list[tuple[str, str | None]] = []
            self.summary: dict[str, object] = {}

        def define_metric(self, name: str, step_metric: str | None = None) -> None:
            self.defined.append((name, step_metric))

    run = FakeRun()
    monkeypatch.setattr(WandbLogger, "experiment", property(lambda self: run))
    logger = WandbLogger(mode="disabled")
    ClockCallback()._define_wandb_metrics(logger, {"clocks/step": 10, "clocks/validity": 0.5, "clocks/copy_rate": 0})
    assert run.defined == [
        ("clocks/step", None),
        ("clocks/validity", "clocks/step"),
        ("clocks/copy_rate", "clocks/step"),
    ]
    assert not any("*" in name for name, _ in run.defined)  # no glob to compete with Lightning's "*"
    curves = {"step": [10, 100], "validity": [0.1, 0.9], "mem_excess": [0.0, 0.0]}
    clocks_to_wandb_summary(logger, measure_clocks(curves))
    assert run.summary["clocks/tau_rule"] == pytest.approx(10**1.5) and run.summary["clocks/tau_mem"] is None
