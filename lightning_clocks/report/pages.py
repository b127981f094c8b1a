"""The report's pages: ``runs.csv`` (the table), ``summary.md`` and ``report.html`` (figures and table)."""

from __future__ import annotations

import html
from pathlib import Path

from lightning_clocks.report.analysis import SweepAnalysis, geometric_mean
from lightning_clocks.report.runs import RunResult, Thresholds
from lightning_clocks.report.scaling import LineFit
from lightning_clocks.results import atomic_write_text, write_csv

RUNS_TABLE = "runs.csv"
SUMMARY_FILE = "summary.md"
HTML_FILE = "report.html"


def table(runs: list[RunResult]) -> list[dict[str, object]]:
    """One row per run: status, swept values, seed, N, complexity, the re-measured clocks and final rates."""
    rows = []
    for run in runs:
        clocks = run.clocks
        rows.append(
            {
                "run": run.name,
                "status": run.status,
                **run.values,
                "seed": run.seed,
                "n_train": run.n_train,
                "complexity": run.complexity,
                "tau_rule": _number(clocks.tau_rule if clocks else None, 0),
                "tau_mem": _number(clocks.tau_mem if clocks else None, 0),
                "window_open": clocks.window_open if clocks else None,
                "window_log10": _number(clocks.window if clocks else None, 3),
                "final_validity": _number(run.final("validity"), 3),
                "final_novel_valid": _number(run.final("novel_valid"), 3),
                "final_copy_rate": _number(run.final("copy_rate"), 3),
                "last_step": run.last_step,
            }
        )
    return rows


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


def findings(runs: list[RunResult], analysis: SweepAnalysis, thresholds: Thresholds) -> list[str]:
    """The report's results as short sentences, shared by summary.md and report.html."""
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
    if analysis.tau_mem_fit is not None:
        lines.append(f"tau_mem against N: log tau_mem = a + b log N with b = {_slope_text(analysis.tau_mem_fit)}.")
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
