"""``clocks report``: figures and pages from a real tiny sweep, sweep figures and fits, re-thresholding."""

from __future__ import annotations

import csv
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from lightning_clocks.errors import ConfigError
from lightning_clocks.report.cli import main as report_main
from lightning_clocks.results import write_curves, write_json

#: Hand-made curves: validity crosses 0.5 between steps 100 and 1000, mem_excess crosses 0.1 between 100 and 1000.
STEPS = [10, 100, 1000, 10000]
VALIDITY = [0.1, 0.4, 0.6, 0.9]
MEM_EXCESS = [0.0, 0.05, 0.2, 0.5]


def read_table(path: Path) -> list[dict[str, str]]:
    with open(path) as stream:
        return list(csv.DictReader(stream))


def image_sources(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def test_report_on_a_real_tiny_sweep_references_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    sweep = subprocess.run(
        [
            sys.executable,
            "-m",
            "lightning_clocks.cli",
            "sweep",
            f"--base_config={REPO / 'configs' / 'quickstart.yaml'}",
            "--grid={data.n_train: [32, 64]}",
            "--seeds=[0]",
            f"--out={out}",
            "--jobs=2",
            "--",
            "--trainer.max_steps=30",
            "--clocks.num_samples=32",
            "--clocks.num_evaluations=4",
            "--data.rule.length=12",
            "--trainer.enable_progress_bar=false",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},  # thread contention slows tiny runs several-fold
        timeout=300,
    )
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    report = subprocess.run(
        [sys.executable, "-m", "lightning_clocks.cli", "report", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    folder = out / "report"
    pngs = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*.png"))
    assert {"figures/run_n_train-32_seed-0.png", "figures/run_n_train-64_seed-0.png"} <= set(pngs)
    assert sorted(image_sources((folder / "report.html").read_text())) == pngs
    summary = (folder / "summary.md").read_text()
    assert all(f"]({png})" in summary for png in pngs)
    rows = read_table(folder / "runs.csv")
    assert [(row["run"], row["status"], row["n_train"], row["last_step"]) for row in rows] == [
        ("n_train-32_seed-0", "finished", "32", "30"),
        ("n_train-64_seed-0", "finished", "64", "30"),
    ]


def make_run(folder: Path, n_train: int, complexity: float, steps: list[int], validity: list[float], mem: list[float]):
    """A run folder with hand-made curves.csv and the clocks.json fields a report reads."""
    rows = [
        {
            "step": step,
            "validity": valid,
            "part_validity": 0.5 + valid / 2,
            "mem_excess": excess,
            "copy_rate": excess,
            "control_copy_rate": 0.0,
            "novel_valid": valid - excess,
        }
        for step, valid, excess in zip(steps, validity, mem, strict=True)
    ]
    write_curves(folder / "curves.csv", rows)
    write_json(
        folder / "clocks.json",
        {
            "rule_threshold": 0.5,
            "mem_threshold": 0.1,
            "smoothing": 0.0,
            "rule": {"name": "group_parity", "complexity": complexity},
            "model": {"family": "gpt", "n_layer": 2, "n_embd": 64},
            "n_train": n_train,
            "seed": 0,
        },
    )


def test_rethresholding_recomputes_the_clocks_from_the_saved_curves(tmp_path: Path) -> None:
    run = tmp_path / "run"
    make_run(run, 256, 3.0, STEPS, VALIDITY, MEM_EXCESS)
    assert report_main([str(run), "--out", str(tmp_path / "default")]) == 0
    (default,) = read_table(tmp_path / "default" / "runs.csv")
    assert float(default["tau_rule"]) == round(10**2.5)  # halfway from 0.4 to 0.6, in log10(step)
    assert float(default["tau_mem"]) == round(10 ** (2 + 1 / 3))
    assert default["window_open"] == "False"  # tau_rule > tau_mem: the window vanished

    assert (
        report_main([str(run), "--out", str(tmp_path / "moved"), "--rule_threshold=0.3", "--mem_threshold=0.35"]) == 0
    )
    (moved,) = read_table(tmp_path / "moved" / "runs.csv")
    assert float(moved["tau_rule"]) == round(10 ** (1 + 2 / 3))
    assert float(moved["tau_mem"]) == round(10**3.5)
    assert moved["window_open"] == "True"
    assert float(moved["window_log10"]) == pytest.approx(3.5 - (1 + 2 / 3), abs=1e-3)
    assert "rule threshold [0.3], memorization threshold [0.35]" in (tmp_path / "moved" / "summary.md").read_text()

    assert report_main([str(run), "--out", str(tmp_path / "never"), "--rule_threshold=0.95"]) == 0
    (never,) = read_table(tmp_path / "never" / "runs.csv")
    assert never["tau_rule"] == "" and never["window_open"] == "False"

    with pytest.raises(ConfigError, match=r"mem_threshold=1\.5"):
        report_main([str(run), "--mem_threshold=1.5"])


def test_sweep_figures_show_the_fitted_scaling_law(tmp_path: Path) -> None:
    """tau_mem = 2 N exactly and tau_rule = 10 G: the report finds slope 1 and draws every sweep figure."""
    for n_train in (100, 200, 400, 800):
        for complexity in (2.0, 4.0):
            tau_mem, tau_rule = 2 * n_train, 10 * complexity
            # Two evaluations bracketing each clock, placed so that the log-interpolated crossing is exact.
            steps = sorted({round(tau_rule / 2), round(tau_rule * 2), round(tau_mem / 2), round(tau_mem * 2)})
            validity = [0.0 if step < tau_rule else 1.0 for step in steps]
            mem = [0.0 if step < tau_mem else 0.2 for step in steps]
            make_run(tmp_path / "runs" / f"n{n_train}_g{complexity:g}", n_train, complexity, steps, validity, mem)
    assert report_main([str(tmp_path / "runs")]) == 0
    folder = tmp_path / "runs" / "report"
    figures = {path.name for path in (folder / "figures").glob("*.png")}
    assert {"tau_mem_vs_n.png", "tau_rule_vs_complexity.png", "window_vs_n.png", "window_map.png"} <= figures
    assert len([name for name in figures if name.startswith("run_")]) == 8
    summary = (folder / "summary.md").read_text()
    assert re.search(r"b = 1\.000, 95% CI \[1\.000, 1\.000\] \(8 runs", summary)
    assert "tau_rule at complexity 2: 20 steps" in summary and "tau_rule at complexity 4: 40 steps" in summary
    # window width = log10(2N / 10G) grows by one decade per decade of N.
    rows = read_table(folder / "runs.csv")
    for row in rows:
        expected = math.log10(2 * int(row["n_train"]) / (10 * float(row["complexity"])))
        assert float(row["window_log10"]) == pytest.approx(expected, abs=0.01)
    assert sorted(image_sources((folder / "report.html").read_text())) == sorted(f"figures/{name}" for name in figures)


def test_report_refuses_folders_without_runs_or_clock_curves(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no run"):
        report_main([str(tmp_path)])
    write_curves(tmp_path / "other" / "curves.csv", [{"step": 10, "accuracy": 0.5}])
    with pytest.raises(ConfigError, match=r"lacks the columns \['mem_excess', 'validity'\]"):
        report_main([str(tmp_path / "other")])
