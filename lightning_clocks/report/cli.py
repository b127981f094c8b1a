"""``clocks report PATH...``: figures, ``report.html``, ``summary.md`` and ``runs.csv`` from run or sweep folders.

Every clock is re-measured from the saved ``curves.csv``; ``--rule_threshold``, ``--mem_threshold``
and ``--smoothing`` change the thresholds after the fact. Reads the folders of ``clocks fit``,
``clocks ti-fit``, ``clocks ensemble`` and ``clocks sweep`` alike. Does not import Lightning;
matplotlib is imported when the first figure is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lightning_clocks.basins.figures import plot_basins
from lightning_clocks.cli import command_parser, parse_arguments
from lightning_clocks.errors import ConfigError, check_threshold, require_non_negative
from lightning_clocks.report.analysis import analyze
from lightning_clocks.report.figures import plot_run, sweep_figures
from lightning_clocks.report.pages import findings, write_html, write_summary, write_table
from lightning_clocks.report.runs import Thresholds, load_runs

REPORT_FOLDER = "report"
FIGURES_FOLDER = "figures"


def report(
    paths: list[Path],
    out: Path | None = None,
    rule_threshold: float | None = None,
    mem_threshold: float | None = None,
    smoothing: float | None = None,
    confidence: float = 0.95,
) -> Path:
    """Plot runs and sweeps, fit the scaling laws, and write report.html and summary.md; return the page.

    Args:
        paths: run folders or sweep folders.
        out: report folder (default: <first path>/report).
        rule_threshold: theta_rule on the rule series (default: each run's own).
        mem_threshold: theta_mem on the memorization series (default: each run's own).
        smoothing: Gaussian smoothing over evaluations (default: each run's own).
        confidence: confidence level of the slope intervals.
    """
    for option, value in (("rule_threshold", rule_threshold), ("mem_threshold", mem_threshold)):
        if value is not None:
            check_threshold(option, value)
    if smoothing is not None:
        require_non_negative("smoothing", smoothing)
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence={confidence} is invalid: it must lie in (0, 1)")
    thresholds = Thresholds(rule_threshold, mem_threshold, smoothing)
    runs = load_runs(list(paths), thresholds)
    folder = out or paths[0] / REPORT_FOLDER
    figures_folder = folder / FIGURES_FOLDER
    analysis = analyze(runs, confidence)
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
    return page


def main(argv: Sequence[str]) -> int:
    """``clocks report``: parse the options and write the report."""
    parser = command_parser("clocks report", (report.__doc__ or "").split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="run folders or sweep folders")
    parser.add_function_arguments(report, skip={"paths"})
    arguments = parse_arguments(parser, argv)
    report(
        arguments.paths,
        arguments.out,
        arguments.rule_threshold,
        arguments.mem_threshold,
        arguments.smoothing,
        arguments.confidence,
    )
    return 0
