"""The report's pages: ``runs.csv`` (the table), ``summary.md`` and ``report.html`` (figures and table)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

from lightning_clocks.clocks import window_state
from lightning_clocks.report.analysis import FamilyComparison, SweepAnalysis, family_prefix, geometric_mean
from lightning_clocks.report.runs import RunResult, Thresholds
from lightning_clocks.report.scaling import CensoredFit, LineFit
from lightning_clocks.results import atomic_write_text, write_csv

RUNS_TABLE = "runs.csv"
SUMMARY_FILE = "summary.md"
HTML_FILE = "report.html"


def table(runs: list[RunResult]) -> list[dict[str, object]]:
    """One row per run: its folder, status, swept values, seed, N, complexity, the re-measured clocks with their
    intervals' ends, and final rates."""
    rows = []
    for run in runs:
        clocks = run.clocks
        rule_interval = (clocks.tau_rule_interval if clocks else None) or (None, None)
        mem_interval = (clocks.tau_mem_interval if clocks else None) or (None, None)
        rows.append(
            {
                "run": run.name,
                "path": str(run.path),
                "status": run.status,
                **run.values,
                "seed": run.seed,
                "n_train": run.n_train,
                "complexity": run.complexity,
                "tau_rule": _number(clocks.tau_rule if clocks else None, 0),
                "tau_rule_low": _number(rule_interval[0], 0),
                "tau_rule_high": _number(rule_interval[1], 0),
                "tau_mem": _number(clocks.tau_mem if clocks else None, 0),
                "tau_mem_low": _number(mem_interval[0], 0),
                "tau_mem_high": _number(mem_interval[1], 0),
                "window": window_state(clocks.tau_rule, clocks.tau_mem) if clocks else None,
                "window_open": clocks.window_open if clocks else None,
                "window_log10": _number(clocks.window if clocks else None, 3),
                "final_validity": _number(run.final("validity"), 3),
                "final_novel_valid": _number(run.final("novel_valid"), 3),
                "final_copy_rate": _number(run.final("copy_rate"), 3),
                "last_step": run.last_step,
            }
        )
    # Runs from several sweeps (or a sweep and a single run) sweep different keys: every row gets every column.
    columns = dict.fromkeys(name for row in rows for name in row)
    return [{name: row.get(name) for name in columns} for row in rows]


def _number(value: float | None, digits: int) -> float | int | None:
    if value is None:
        return None
    return round(value) if digits == 0 else round(value, digits)


def _slope_text(fit: LineFit) -> str:
    interval = ""
    if fit.slope_interval is not None:
        low, high = fit.slope_interval
        interval = f", {fit.confidence:.0%} CI [{low:.3f}, {high:.3f}]"
    r_squared = f", r² = {fit.r_squared:.3f}" if fit.r_squared is not None else ""
    return f"{fit.slope:.3f}{interval} ({fit.num_points} runs{r_squared})"


def _censored_text(fit: CensoredFit) -> str:
    """The censored fit's slope, interval, runs, lower bounds and scatter, for the findings."""
    low, high = fit.slope_interval
    return (
        f"{fit.slope:.3f}, {fit.confidence:.0%} CI [{low:.3f}, {high:.3f}] ({fit.num_points} runs, "
        f"{fit.num_censored} of them lower bounds; scatter sigma = {fit.sigma:.3f} in log10 steps)"
    )


def _never_crossed(measured: list[RunResult]) -> list[str]:
    """One line per clock that some runs never crossed, naming them and their last step."""
    lines = []
    for clock in ("tau_rule", "tau_mem"):
        never = [run for run in measured if getattr(run.clocks, clock) is None]
        if never:
            names = ", ".join(f"{run.name} (> {run.last_step})" for run in never)
            lines.append(
                f"{len(never)} of {len(measured)} runs never crossed {clock}: lower bounds at their last step: {names}."
            )
    return lines


def _pooling(measured: list[RunResult], analysis: SweepAnalysis) -> str:
    """What the fits pooled: how many runs, which seeds, at which N."""
    seeds = sorted({run.seed for run in measured if run.seed is not None})
    sizes = sorted({run.n_train for run in measured if run.n_train is not None})
    most = max((point.num_runs for point in analysis.pooled), default=0)
    return (
        f"Pooled: {len(measured)} runs over {len(seeds)} seeds {seeds} at N = {sizes} (up to {most} runs per N); "
        f"every run is one point of the fits; each N's mean is the geometric mean of its seeds' tau_mem."
    )


def findings(
    runs: list[RunResult],
    scaling: Mapping[str, tuple[list[RunResult], SweepAnalysis]],
    comparisons: Sequence[FamilyComparison],
    thresholds: Thresholds,
) -> list[str]:
    """The report's results as short sentences, shared by summary.md and report.html: the runs, each model family's
    runs and scaling laws (``scaling``, keyed by family; ``""`` for runs of one family) and the DiT against GPT
    comparisons."""
    finished = sum(run.status == "finished" for run in runs)
    measured = [run for run in runs if run.clocks is not None]
    lines = [f"Runs: {len(runs)} ({finished} finished, {len(measured)} with curves)."]
    if measured:
        rule = {run.clocks.rule_threshold for run in measured}
        mem = {run.clocks.mem_threshold for run in measured}
        smoothing = {run.clocks.smoothing for run in measured}
        source = "the thresholds given to the report" if thresholds != Thresholds() else "each run's own thresholds"
        lines.append(
            f"Clocks re-measured from curves.csv with {source}: rule threshold {sorted(rule)}, "
            f"memorization threshold {sorted(mem)} (on mem_excess), smoothing {sorted(smoothing)}."
        )
        lines += _never_crossed(measured)
    if len(scaling) > 1:
        lines.append(f"Scaling laws are fitted per model family: {', '.join(family.upper() for family in scaling)}.")
    for family, (family_runs, analysis) in scaling.items():
        measured_runs = [run for run in family_runs if run.clocks is not None]
        lines += [family_prefix(family) + line for line in _scaling_findings(measured_runs, analysis)]
    lines += [_comparison_text(comparison) for comparison in comparisons]
    return lines


def _comparison_text(comparison: FamilyComparison) -> str:
    """One DiT against GPT comparison: each family's geometric-mean clocks and their ratio."""
    complexity = f" complexity {comparison.complexity:g}" if comparison.complexity is not None else ""
    parts = []
    for clock in ("tau_rule", "tau_mem"):
        values = getattr(comparison, clock)
        text = ", ".join(
            f"{family.upper()} {values[family]:.0f}" if values[family] is not None else f"{family.upper()} never"
            for family in ("dit", "gpt")
        )
        ratio = comparison.ratio(clock)
        parts.append(f"{clock} {text} (DiT/GPT {ratio:.2f})" if ratio is not None else f"{clock} {text}")
    counts = ", ".join(f"{len(comparison.runs[family])} {family.upper()}" for family in ("dit", "gpt"))
    return f"DiT against GPT on {comparison.rule}{complexity}, N={comparison.n_train} ({counts} runs): " + (
        "; ".join(parts) + "."
    )


def _scaling_findings(measured: list[RunResult], analysis: SweepAnalysis) -> list[str]:
    """The scaling-law sentences of one family's runs."""
    lines = []
    if analysis.tau_mem_fit is not None:
        lines.append(_pooling([run for run in measured if run.n_train is not None], analysis))
        lines.append(
            f"tau_mem against N, naive fit (crossed runs only): log tau_mem = a + b log N with "
            f"b = {_slope_text(analysis.tau_mem_fit)}."
        )
    if analysis.tau_mem_censored_fit is not None and analysis.tau_mem_fit is not None:
        covariate = " + c complexity" if analysis.censored_fit_uses_complexity else ""
        lines.append(
            f"tau_mem against N, censored (Tobit) fit: log tau_mem = a + b log N{covariate} with "
            f"b = {_censored_text(analysis.tau_mem_censored_fit)}."
        )
    for point in analysis.pooled:
        if point.num_runs > 1 and point.mean is not None:
            interval = f" [{point.interval[0]:.0f}, {point.interval[1]:.0f}]" if point.interval else ""
            lines.append(
                f"tau_mem at N={point.n_train}: {point.mean:.0f}{interval} steps (geometric mean of "
                f"{point.num_crossed} crossed of {point.num_runs} seeds)."
            )
    for prediction in analysis.predictions:
        low, high = prediction.tau_mem_interval
        complexity = f", complexity {prediction.complexity:g}" if prediction.complexity is not None else ""
        window = f"; window {prediction.window_log10:+.2f} decades" if prediction.window_log10 is not None else ""
        lines.append(
            f"Predicted at N={prediction.n_train}{complexity}: tau_mem = {prediction.tau_mem:.0f} steps, "
            f"{prediction.confidence:.0%} prediction interval [{low:.0f}, {high:.0f}]{window}; "
            f"suggested trainer.max_steps = {prediction.max_steps}."
        )
    for complexity, taus in analysis.tau_rule_by_complexity.items():
        crossed = [tau for tau in taus if tau is not None]
        mean = geometric_mean(taus)
        value = f"{mean:.0f} steps (geometric mean)" if mean is not None else "never reached"
        lines.append(f"tau_rule at complexity {complexity:g}: {value}; {len(crossed)} of {len(taus)} runs crossed.")
    if analysis.window_fit is not None:
        vanish = analysis.window_vanishes_at_n
        where = f"; the fitted width reaches zero at N = {vanish:.3g}" if vanish is not None else ""
        lines.append(
            f"Window width log10(tau_mem / tau_rule) against log10 N: slope {_slope_text(analysis.window_fit)}{where}."
        )
    if len(analysis.window_open_map) >= 2:
        closed = [cell for cell, fraction in analysis.window_open_map.items() if fraction == 0]
        cells = ", ".join(f"(N={n_train}, complexity {complexity:g})" for n_train, complexity in closed)
        lines.append(
            f"Window vanished in every run at: {cells}."
            if closed
            else "No (N, complexity) cell has its window vanished in every run."
        )
    return lines


def write_summary(
    folder: Path, runs: list[RunResult], lines: list[str], figures: dict[str, Path], run_figures: dict[str, Path]
) -> Path:
    """``summary.md``: the findings, the table and links to every figure."""
    rows = table(runs)
    columns = list(rows[0])
    text = ["# clocks report", "", *[f"- {line}" for line in lines], "", "## Runs", ""]
    text.append("| " + " | ".join(columns) + " |")
    text.append("|" + "---|" * len(columns))
    text += ["| " + " | ".join("" if row[name] is None else str(row[name]) for name in columns) + " |" for row in rows]
    text += ["", "## Figures", ""]
    for caption, path in {**figures, **run_figures}.items():
        text.append(f"![{caption}]({path.relative_to(folder).as_posix()})")
    path = folder / SUMMARY_FILE
    atomic_write_text(path, "\n".join(text) + "\n")
    return path


def write_html(
    folder: Path, runs: list[RunResult], lines: list[str], figures: dict[str, Path], run_figures: dict[str, Path]
) -> Path:
    """``report.html``: an index page with the findings, every figure and the table of runs."""
    rows = table(runs)
    columns = list(rows[0])

    def figure_block(caption: str, path: Path) -> str:
        source, text = html.escape(path.relative_to(folder).as_posix()), html.escape(caption)
        return f'<figure><img src="{source}" alt="{text}"><figcaption>{text}</figcaption></figure>'

    header = "".join(f"<th>{html.escape(name)}</th>" for name in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{'' if row[name] is None else html.escape(str(row[name]))}</td>" for name in columns)
        + "</tr>"
        for row in rows
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>clocks report</title>',
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:100%}"
        "figure{display:inline-block;margin:8px;vertical-align:top}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head><body>",
        "<h1>clocks report</h1>",
        "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>",
    ]
    if figures:
        parts += ["<h2>Sweep</h2>", *(figure_block(caption, path) for caption, path in figures.items())]
    parts += [
        "<h2>Runs</h2>",
        f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>",
        "<h2>Curves of each run</h2>",
        *(figure_block(caption, path) for caption, path in run_figures.items()),
        "</body></html>",
        "",
    ]
    path = folder / HTML_FILE
    atomic_write_text(path, "\n".join(parts))
    return path


def write_table(folder: Path, runs: list[RunResult]) -> Path:
    """``runs.csv``: the report's table with the re-measured clocks."""
    path = folder / RUNS_TABLE
    rows = table(runs)
    write_csv(path, rows, list(rows[0]))
    return path
