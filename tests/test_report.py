"""``clocks report``: figures and pages from a real tiny sweep, sweep figures and fits, re-thresholding, clock
intervals, censored runs and predictions, unique figure names across sweeps, DiT against GPT."""

from __future__ import annotations

import csv
import json
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


def make_run(
    folder: Path,
    n_train: int,
    complexity: float,
    steps: list[float],
    validity: list[float],
    mem: list[float],
    seed: int = 0,
    family: str = "gpt",
    num_samples: int | None = None,
):
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
            **({"num_samples": num_samples} if num_samples is not None else {}),
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
            "model": {"family": family, "n_layer": 2, "n_embd": 64},
            "n_train": n_train,
            "seed": seed,
        },
    )


def crossing_run(folder: Path, n_train: int, tau_rule: float, tau_mem: float, **options) -> None:
    """A run whose validity jumps 0 -> 1 and mem_excess 0 -> 0.2 across evaluations at tau/2 and 2 tau: the
    log-interpolated crossings are tau_rule and tau_mem (exactly, where tau/2 is a whole step)."""
    steps = sorted({tau_rule / 2, tau_rule * 2, tau_mem / 2, tau_mem * 2})
    validity = [0.0 if step < tau_rule else 1.0 for step in steps]
    mem = [0.0 if step < tau_mem else 0.2 for step in steps]
    make_run(folder, n_train, 3.0, steps, validity, mem, **options)


def test_rethresholding_recomputes_the_clocks_from_the_saved_curves(tmp_path: Path) -> None:
    run = tmp_path / "run"
    make_run(run, 256, 3.0, STEPS, VALIDITY, MEM_EXCESS)
    assert report_main([str(run), "--out", str(tmp_path / "default")]) == 0
    (default,) = read_table(tmp_path / "default" / "runs.csv")
    assert float(default["tau_rule"]) == round(10**2.5)  # halfway from 0.4 to 0.6, in log10(step)
    assert float(default["tau_mem"]) == round(10 ** (2 + 1 / 3))
    assert (default["window"], default["window_open"]) == ("closed", "False")  # tau_rule > tau_mem: it vanished

    assert (
        report_main([str(run), "--out", str(tmp_path / "moved"), "--rule_threshold=0.3", "--mem_threshold=0.35"]) == 0
    )
    (moved,) = read_table(tmp_path / "moved" / "runs.csv")
    assert float(moved["tau_rule"]) == round(10 ** (1 + 2 / 3))
    assert float(moved["tau_mem"]) == round(10**3.5)
    assert (moved["window"], moved["window_open"]) == ("open", "True")
    assert float(moved["window_log10"]) == pytest.approx(3.5 - (1 + 2 / 3), abs=1e-3)
    assert "rule threshold [0.3], memorization threshold [0.35]" in (tmp_path / "moved" / "summary.md").read_text()

    assert report_main([str(run), "--out", str(tmp_path / "never"), "--rule_threshold=0.95"]) == 0
    (never,) = read_table(tmp_path / "never" / "runs.csv")
    # No tau_rule: where the window would lie is unknown (docs/method.md, "Clocks"), not closed.
    assert (never["tau_rule"], never["window"], never["window_open"]) == ("", "unknown", "False")

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


def test_a_sweep_and_a_single_run_are_reported_together(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    for n_train in (64, 128):
        crossing_run(sweep / f"n_train-{n_train}", n_train, 100, 10 * n_train)
    runs = [{"name": f"n_train-{n}", "values": {"data.n_train": str(n)}, "seed": None} for n in (64, 128)]
    write_json(sweep / "sweep.json", {"name": "sweep", "grid": {"data.n_train": ["64", "128"]}, "runs": runs})
    crossing_run(tmp_path / "single", 256, 100, 2560)
    assert report_main([str(sweep), str(tmp_path / "single"), f"--out={tmp_path / 'report'}"]) == 0
    rows = read_table(tmp_path / "report" / "runs.csv")
    assert [(row["run"], row["data.n_train"]) for row in rows] == [
        ("n_train-64", "64"),
        ("n_train-128", "128"),
        ("single", ""),
    ]


def test_a_damaged_run_is_named_and_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, n_train in (("a", 64), ("b", 128), ("c", 256)):
        crossing_run(tmp_path / "runs" / name, n_train, 100, 1000 * n_train / 64)
    (tmp_path / "runs" / "b" / "curves.csv").write_text("step,validity\n10,0.5\n20\n")  # truncated mid-row
    (tmp_path / "runs" / "c" / "clocks.json").write_text('{"rule_threshold": 0.5, ')  # truncated JSON
    assert report_main([str(tmp_path / "runs"), f"--out={tmp_path / 'report'}"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 2
    assert str(tmp_path / "runs" / "b" / "curves.csv") in warnings[0] and "damaged" in warnings[0]
    assert str(tmp_path / "runs" / "c" / "clocks.json") in warnings[1] and "damaged" in warnings[1]
    assert [row["run"] for row in read_table(tmp_path / "report" / "runs.csv")] == ["a"]


def test_runs_named_alike_in_two_sweeps_keep_their_own_figures_and_formats(tmp_path: Path) -> None:
    for sweep in ("fitA", "fitB"):
        make_run(tmp_path / sweep / "n256", 256, 3.0, STEPS, VALIDITY, MEM_EXCESS, num_samples=512)
    out = tmp_path / "report"
    assert (
        report_main([str(tmp_path / "fitA"), str(tmp_path / "fitB"), f"--out={out}", "--format=svg", "--dpi=50"]) == 0
    )
    assert sorted(path.name for path in (out / "figures").iterdir()) == ["run_fitA__n256.svg", "run_fitB__n256.svg"]
    rows = read_table(out / "runs.csv")
    assert [row["path"] for row in rows] == [str(tmp_path / "fitA" / "n256"), str(tmp_path / "fitB" / "n256")]
    # The clock interval: validity 0.4 -> 0.6 over 512 samples; the Wilson edges cross 0.5 on either side of tau.
    assert float(rows[0]["tau_rule_low"]) < float(rows[0]["tau_rule"]) < float(rows[0]["tau_rule_high"])
    with pytest.raises(ConfigError, match="format=jpg is invalid"):
        report_main([str(tmp_path / "fitA"), "--format=jpg"])


def test_seeds_pooled_censored_runs_counted_and_tau_mem_predicted(tmp_path: Path) -> None:
    """tau_mem = 2N x 10^(+-0.05) over two seeds per N; one run at N=800 never crossed by step 1000 (far below
    its 1600): the report pools each N to exactly 2N, counts the lower bound, and predicts 2N at N=1600."""
    runs = tmp_path / "runs"
    for n_train in (100, 200, 400):
        for seed, offset in ((0, 0.05), (1, -0.05)):
            crossing_run(runs / f"n{n_train}_s{seed}", n_train, 20.0, 2 * n_train * 10**offset, seed=seed)
    make_run(runs / "n800_s0", 800, 3.0, [10, 40, 1000], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    assert report_main([str(runs), "--predict_n=[1600]", "--max_steps_margin=2"]) == 0
    summary = (runs / "report" / "summary.md").read_text()
    assert "1 of 7 runs never crossed tau_mem: lower bounds at their last step: n800_s0 (> 1000)." in summary
    assert "Pooled: 7 runs over 2 seeds [0, 1] at N = [100, 200, 400, 800]" in summary
    # two seeds at log10(2N) +- 0.05: t interval 0.05 sqrt(2) x t(0.975, 1) / sqrt(2) = 0.05 x 12.706 decades
    half = 0.05 * 12.7062
    mean, low, high = map(float, re.search(r"tau_mem at N=200: (\d+) \[(\d+), (\d+)\] steps", summary).groups())
    assert (mean, low, high) == pytest.approx((400, 400 * 10**-half, 400 * 10**half), rel=0.01)  # steps saved as ints
    assert "censored (Tobit) fit" in summary and "(7 runs, 1 of them lower bounds" in summary
    (prediction,) = json.loads((runs / "report" / "prediction.json").read_text())["predictions"]
    assert prediction["tau_mem"] == pytest.approx(3200, rel=0.01)
    low, high = prediction["tau_mem_interval"]
    assert low < 3200 < high and prediction["max_steps"] == math.ceil(2 * high)
    assert prediction["tau_rule"] == pytest.approx(20.0)
    assert (runs / "report" / "figures" / "tau_mem_vs_n.png").exists()


def test_dit_and_gpt_on_one_rule_are_drawn_together_with_the_ratio_of_their_clocks(tmp_path: Path) -> None:
    crossing_run(tmp_path / "runs" / "gpt", 256, 100.0, 1000.0, family="gpt")
    crossing_run(tmp_path / "runs" / "dit", 256, 300.0, 2000.0, family="dit")
    assert report_main([str(tmp_path / "runs")]) == 0
    folder = tmp_path / "runs" / "report"
    assert (folder / "figures" / "dit_vs_gpt_group_parity_c3_n256.png").exists()
    summary = (folder / "summary.md").read_text()
    assert (
        "DiT against GPT on group_parity complexity 3, N=256 (1 DIT, 1 GPT runs): tau_rule DIT 300, GPT 100 "
        "(DiT/GPT 3.00); tau_mem DIT 2000, GPT 1000 (DiT/GPT 2.00)." in summary
    )


def test_each_model_family_gets_its_own_scaling_law(tmp_path: Path) -> None:
    """DiT runs with tau_mem = 8 N and GPT runs with tau_mem = N^2 / 50: pooled, one line would fit neither; the
    report fits slope 1 to the DiT and slope 2 to the GPT, and draws each family's figures apart."""
    for n_train in (100, 200, 400):
        crossing_run(tmp_path / "runs" / f"dit_n{n_train}", n_train, 50.0, 8.0 * n_train, family="dit")
        crossing_run(tmp_path / "runs" / f"gpt_n{n_train}", n_train, 20.0, n_train**2 / 50, family="gpt")
    assert report_main([str(tmp_path / "runs"), "--predict_n=[800]"]) == 0
    folder = tmp_path / "runs" / "report"
    summary = (folder / "summary.md").read_text()
    assert "Scaling laws are fitted per model family: DIT, GPT." in summary
    assert re.search(r"DIT: tau_mem against N, naive fit .* b = 1\.000, 95% CI \[1\.000, 1\.000\] \(3 runs", summary)
    assert re.search(r"GPT: tau_mem against N, naive fit .* b = 2\.000, 95% CI \[2\.000, 2\.000\] \(3 runs", summary)
    assert "DiT against GPT on group_parity complexity 3, N=400 (1 DIT, 1 GPT runs)" in summary
    for family in ("dit", "gpt"):
        assert (folder / "figures" / family / "tau_mem_vs_n.png").exists()
    assert not (folder / "figures" / "tau_mem_vs_n.png").exists()
    predictions = json.loads((folder / "prediction.json").read_text())["predictions"]
    by_family = {item["family"]: item["tau_mem"] for item in predictions}
    assert by_family["dit"] == pytest.approx(6400, rel=1e-6) and by_family["gpt"] == pytest.approx(12800, rel=1e-6)


def test_predictions_over_runs_that_vary_complexity_need_one(tmp_path: Path) -> None:
    for n_train in (100, 200, 400):
        for complexity in (2.0, 4.0):
            folder = tmp_path / "runs" / f"n{n_train}_g{complexity:g}"
            steps = [n_train, 2 * n_train, 4 * n_train * complexity]
            make_run(folder, n_train, complexity, steps, [0.0, 1.0, 1.0], [0.0, 0.0, 0.2])
    with pytest.raises(
        ConfigError, match=r"predict_complexity=None is invalid: the runs vary complexity \[2\.0, 4\.0\]"
    ):
        report_main([str(tmp_path / "runs"), "--predict_n=[800]"])
    with pytest.raises(ConfigError, match=r"predict_n=\[0\] is invalid"):
        report_main([str(tmp_path / "runs"), "--predict_n=[0]"])
    # tau_mem = sqrt(2N x 4NG) = N sqrt(8G) exactly: at N=800, G=4 the fit with a complexity term gives 800 sqrt(32).
    assert report_main([str(tmp_path / "runs"), "--predict_n=[800]", "--predict_complexity=4"]) == 0
    (prediction,) = json.loads((tmp_path / "runs" / "report" / "prediction.json").read_text())["predictions"]
    assert prediction["tau_mem"] == pytest.approx(800 * math.sqrt(32), rel=1e-6)
    assert prediction["complexity"] == 4.0


def test_the_window_map_leaves_out_runs_whose_window_is_unknown(tmp_path: Path) -> None:
    from lightning_clocks.report.analysis import analyze
    from lightning_clocks.report.runs import Thresholds, load_runs

    make_run(tmp_path / "learnt", 256, 3.0, STEPS, VALIDITY, MEM_EXCESS)  # tau_rule after tau_mem: closed
    make_run(tmp_path / "not_learnt", 512, 3.0, STEPS, [0.1] * 4, MEM_EXCESS)  # tau_rule never reached: unknown
    analysis = analyze(load_runs([tmp_path], Thresholds()))
    assert analysis.window_open_map == {(256, 3.0): 0.0}
