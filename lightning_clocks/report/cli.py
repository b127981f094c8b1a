"""``clocks report PATH...``: figures, ``report.html``, ``summary.md`` and ``runs.csv`` from run or sweep folders.

Every clock is re-measured from the saved ``curves.csv``; ``--rule_threshold``, ``--mem_threshold``
and ``--smoothing`` change the thresholds after the fact. Reads the folders of ``clocks fit``,
``clocks ti-fit``, ``clocks ensemble`` and ``clocks sweep`` alike. With ``--predict_n`` it also writes
``prediction.json``: tau_mem predicted by the censored fit for unseen N, with a prediction interval and a
suggested ``trainer.max_steps``. Runs of several model families get their scaling laws fitted (and figures drawn,
in ``figures/<family>/``) one family at a time, and a DiT against GPT figure per rule, complexity and N. Does not
import Lightning; matplotlib is imported when the first figure is drawn, SciPy when a censored fit needs it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from lightning_clocks.basins.figures import plot_basins
from lightning_clocks.cli import command_parser, parse_arguments
from lightning_clocks.errors import ConfigError, check_threshold, require_non_negative
from lightning_clocks.report.analysis import analyze, compare_families, family_prefix, split_by_family
from lightning_clocks.report.figures import family_figures, plot_run, pyplot, sweep_figures
from lightning_clocks.report.pages import findings, write_html, write_summary, write_table
from lightning_clocks.report.runs import RunResult, Thresholds, load_runs
from lightning_clocks.results import write_json

REPORT_FOLDER = "report"
FIGURES_FOLDER = "figures"
PREDICTION_FILE = "prediction.json"
FIGURE_FORMATS = ("png", "pdf", "svg")


def figure_names(runs: list[RunResult]) -> dict[Path, str]:
    """A file-name stem for each run, unique across sweeps: its path relative to the runs' common parent, with
    ``/`` as ``__`` (two sweeps' ``n_train-256_seed-0`` become ``fitA__n_train-256_seed-0`` and ``fitB__...``)."""
    paths = [run.path.resolve() for run in runs]
    parent = Path(os.path.commonpath([path.parent for path in paths])) if paths else Path()
    return {
        run.path: path.relative_to(parent).as_posix().replace("/", "__") for run, path in zip(runs, paths, strict=True)
    }


def refuse_linked_folders(folder: Path) -> None:
    """Refuse a report folder that is, or holds, a link to a folder: the report would write wherever it leads
    (a folder someone sent you may hold ``report -> ~/.ssh``). Its files are replaced atomically, never followed."""
    linked = [folder] if folder.is_symlink() else []
    for root, subfolders, _ in os.walk(folder):  # os.walk does not follow links
        linked += [Path(root, name) for name in subfolders if Path(root, name).is_symlink()]
    if linked:
        raise ConfigError(
            f"out={folder}: {linked[0]} is a link to {linked[0].resolve()}; a report writes only into real folders: "
            "remove the link, or give --out"
        )


def report(
    paths: list[Path],
    out: Path | None = None,
    rule_threshold: float | None = None,
    mem_threshold: float | None = None,
    smoothing: float | None = None,
    confidence: float = 0.95,
    predict_n: list[int] | None = None,
    predict_complexity: float | None = None,
    max_steps_margin: float = 1.5,
    format: str = "png",
    dpi: int = 100,
) -> Path:
    """Plot runs and sweeps, fit the scaling laws, and write report.html and summary.md; return the page.

    Args:
        paths: run folders or sweep folders.
        out: report folder (default: <first path>/report).
        rule_threshold: theta_rule on the rule series (default: each run's own).
        mem_threshold: theta_mem on the memorization series (default: each run's own).
        smoothing: Gaussian smoothing over evaluations (default: each run's own).
        confidence: confidence level of the slope, seed and prediction intervals.
        predict_n: training-set sizes N at which to predict tau_mem from the censored fit (prediction.json).
        predict_complexity: the rule complexity of the predictions (needed when the runs vary complexity).
        max_steps_margin: the suggested trainer.max_steps is this times the upper prediction bound of tau_mem.
        format: file format of the figures: png, pdf or svg.
        dpi: resolution of the figures (dots per inch; png).
    """
    for option, value in (("rule_threshold", rule_threshold), ("mem_threshold", mem_threshold)):
        if value is not None:
            check_threshold(option, value)
    if smoothing is not None:
        require_non_negative("smoothing", smoothing)
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence={confidence} is invalid: it must lie in (0, 1)")
    if format not in FIGURE_FORMATS:
        raise ConfigError(f"format={format} is invalid: it must be one of {', '.join(FIGURE_FORMATS)}")
    if dpi < 1:
        raise ConfigError(f"dpi={dpi} is invalid: it must be a positive integer")
    if max_steps_margin < 1:
        raise ConfigError(f"max_steps_margin={max_steps_margin} is invalid: it must be at least 1")
    if any(n_train < 1 for n_train in predict_n or ()):
        raise ConfigError(f"predict_n={predict_n} is invalid: every N must be a positive integer")
    thresholds = Thresholds(rule_threshold, mem_threshold, smoothing)
    runs = load_runs(list(paths), thresholds)
    folder = out or paths[0] / REPORT_FOLDER
    refuse_linked_folders(folder)
    figures_folder = folder / FIGURES_FOLDER
    scaling = {}
    for family, family_runs in split_by_family(runs).items():
        try:
            analysis = analyze(family_runs, confidence, predict_n or (), predict_complexity, max_steps_margin)
        except ConfigError as error:
            raise ConfigError(f"{error} ({family.upper()} runs)" if family else str(error)) from None
        scaling[family] = (family_runs, analysis)
    comparisons = compare_families([run for run in runs if run.clocks is not None])
    suffix, names = f".{format}", figure_names(runs)
    with pyplot().rc_context({"savefig.dpi": dpi}):
        figures: dict[str, Path] = {}
        for family, (family_runs, analysis) in scaling.items():
            folder_of_family = figures_folder / family if family else figures_folder
            drawn = sweep_figures(family_runs, analysis, folder_of_family, suffix, confidence)
            figures |= {family_prefix(family) + caption: path for caption, path in drawn.items()}
        figures |= family_figures(comparisons, figures_folder, suffix)
        run_figures = {
            f"run {names[run.path]}": plot_run(run, figures_folder / f"run_{names[run.path]}{suffix}")
            for run in runs
            if run.clocks is not None
        }
        for run in runs:  # basins and learned-score plots of runs that measured them (BasinCallback, clocks basins)
            for path in plot_basins(run.path, figures_folder / f"basins_{names[run.path]}", suffix):
                run_figures[f"run {names[run.path]}: {path.stem.replace('_', ' ')}"] = path
    predictions = [
        {**item.to_dict(), **({"family": family} if family else {})}
        for family, (_, analysis) in scaling.items()
        for item in analysis.predictions
    ]
    if predictions:
        write_json(folder / PREDICTION_FILE, {"predictions": predictions})
    lines = findings(runs, scaling, comparisons, thresholds)
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
        arguments.predict_n,
        arguments.predict_complexity,
        arguments.max_steps_margin,
        arguments.format,
        arguments.dpi,
    )
    return 0
