"""``clocks report PATH...``: figures, ``report.html``, ``summary.md`` and ``runs.csv`` from run or sweep folders.

Every clock is re-measured from the saved ``curves.csv``; ``--rule-threshold``,
``--mem-threshold`` and ``--smoothing`` change the thresholds after the fact. Does not import
Lightning; matplotlib is imported when the first figure is drawn.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lightning_clocks.clocks import check_threshold
from lightning_clocks.errors import ConfigError
from lightning_clocks.report.analysis import analyze
from lightning_clocks.report.figures import plot_run, sweep_figures
from lightning_clocks.report.pages import findings, write_html, write_summary, write_table
from lightning_clocks.report.runs import Thresholds, load_runs
from lightning_clocks.report_basins import plot_basins

REPORT_FOLDER = "report"
FIGURES_FOLDER = "figures"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clocks report",
        description="Plot runs and sweeps, fit the scaling laws, and write report.html and summary.md.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="run folders or sweep folders")
    parser.add_argument("--out", type=Path, help="report folder (default: <first path>/report)")
    parser.add_argument("--rule-threshold", type=float, help="theta_rule on validity (default: each run's own)")
    parser.add_argument("--mem-threshold", type=float, help="theta_mem on mem_excess (default: each run's own)")
    parser.add_argument("--smoothing", type=float, help="Gaussian smoothing over evaluations (default: each run's own)")
    parser.add_argument("--confidence", type=float, default=0.95, help="confidence level of the slope intervals")
    return parser


def main(argv: list[str]) -> int:
    """Write the report of ``argv``'s paths; prints where it went and the findings."""
    args = build_parser().parse_args(argv)
    for option, value in (("--rule-threshold", args.rule_threshold), ("--mem-threshold", args.mem_threshold)):
        if value is not None:
            check_threshold(option, value)
    if args.smoothing is not None and args.smoothing < 0:
        raise ConfigError(f"--smoothing={args.smoothing} is invalid: it must be >= 0 (0 turns smoothing off)")
    if not 0 < args.confidence < 1:
        raise ConfigError(f"--confidence={args.confidence} is invalid: it must lie in (0, 1)")
    thresholds = Thresholds(args.rule_threshold, args.mem_threshold, args.smoothing)
    runs = load_runs(args.paths, thresholds)
    folder = args.out or args.paths[0] / REPORT_FOLDER
    figures_folder = folder / FIGURES_FOLDER
    analysis = analyze(runs, args.confidence)
    figures = sweep_figures(runs, analysis, figures_folder)
    run_figures = {
        f"run {run.name}": plot_run(run, figures_folder / f"run_{run.name}.png")
        for run in runs
        if run.clocks is not None
    }
    for run in runs:  # basins and learned-score plots of runs that measured them (BasinCallback, clocks basins)
        for path in plot_basins(run.path, figures_folder / f"basins_{run.name}"):
            run_figures[f"run {run.name}: {path.stem.replace('_', ' ')}"] = path
    lines = findings(runs, analysis, thresholds)
    write_table(folder, runs)
    write_summary(folder, runs, lines, figures, run_figures)
    page = write_html(folder, runs, lines, figures, run_figures)
    print(f"[report] {page}")
    for line in lines:
        print(f"  {line}")
    return 0
