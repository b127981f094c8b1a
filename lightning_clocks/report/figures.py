"""The report's figures: one per run, the sweep comparisons and DiT/GPT pairs (docs/reading_figures.md).

Each figure is written in the format its file name ends with (png, pdf or svg), at the resolution of
matplotlib's ``savefig.dpi`` (``clocks report --dpi`` sets it). matplotlib is imported on first use, with
the non-interactive Agg backend, so that importing the report costs nothing and works on machines with
no display.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lightning_clocks.clocks import Clocks, rate_band
from lightning_clocks.errors import ConfigError
from lightning_clocks.report.analysis import FamilyComparison, SweepAnalysis, geometric_mean_interval, tau_mem_bound
from lightning_clocks.report.runs import RunResult
from lightning_clocks.results import atomic_path

#: The per-run curves of generative models, in drawing order: (column in curves.csv, legend label, colour).
RUN_CURVES = (
    ("validity", "validity", "tab:green"),
    ("part_validity", "part validity", "tab:olive"),
    ("novel_valid", "novel valid (innovation)", "tab:blue"),
    ("copy_rate", "copy rate (training set)", "tab:red"),
    ("control_copy_rate", "control copy rate (chance)", "tab:gray"),
)
#: Colours of the two series a run's clocks cross, drawn when the run has none of RUN_CURVES (the pair task).
RULE_COLOUR, MEM_COLOUR = "tab:green", "tab:red"
#: Line colour of each model family in the DiT/GPT comparison.
FAMILY_COLOURS = {"dit": "tab:purple", "gpt": "tab:orange"}


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend; a ConfigError explains how to install it when it is missing."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("clocks report needs matplotlib: pip install 'lightning-clocks[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure: Any, path: Path) -> Path:
    """Write ``figure`` atomically (temporary file, then rename) in the format of ``path``'s suffix, and close it."""
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, bbox_inches="tight", format=path.suffix.lstrip("."))
    finally:
        pyplot().close(figure)
    return path


def plain_log_ticks(axis: Any) -> None:
    """Label a log-scaled axis with plain numbers (300, not 3 x 10^2)."""
    from matplotlib.ticker import LogFormatter, ScalarFormatter

    axis.set_major_formatter(ScalarFormatter())
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def run_title(run: RunResult) -> str:
    """``name: rule G=3, N=256, seed 0`` (what is known of the run)."""
    rule = run.summary.get("rule", {})
    details = [f"{rule.get('name', 'rule')} (complexity {run.complexity:g})" if run.complexity is not None else ""]
    if run.n_train is not None:
        details.append(f"N={run.n_train}")
    if run.seed is not None:
        details.append(f"seed {run.seed}")
    return f"{run.name}\n" + ", ".join(detail for detail in details if detail)


def plot_run(run: RunResult, path: Path) -> Path:
    """Rates against training step (log x), the two clocks as vertical lines, the innovation window shaded."""
    plt = pyplot()
    curves, clocks = run.curves, run.clocks
    figure, axes = plt.subplots(figsize=(7.0, 4.0))
    drawn = [(column, label, colour) for column, label, colour in RUN_CURVES if column in curves]
    if not drawn:  # a run whose clocks cross other series (the pair task's): draw those two
        rule_series, mem_series = run.clock_series
        drawn = [(rule_series, rule_series, RULE_COLOUR), (mem_series, mem_series, MEM_COLOUR)]
    for column, label, colour in drawn:
        axes.plot(curves["step"], curves[column], marker=".", markersize=4, label=label, color=colour)
        band = rate_band(curves, column)
        if band is not None:
            axes.fill_between(curves["step"], *band, color=colour, alpha=0.15, linewidth=0)
    axes.axhline(clocks.rule_threshold, color="tab:green", linestyle=":", linewidth=1, label="rule threshold")
    for name, tau, interval, colour in (
        ("tau_rule", clocks.tau_rule, clocks.tau_rule_interval, "tab:green"),
        ("tau_mem", clocks.tau_mem, clocks.tau_mem_interval, "tab:red"),
    ):
        if tau is not None:
            axes.axvline(tau, color=colour, linestyle="--", label=f"{name} = {tau:.0f}{interval_text(interval)}")
        if interval is not None:
            end = interval[1] if interval[1] is not None else run.last_step
            axes.axvspan(interval[0], end, ymin=0.0, ymax=0.04, color=colour, alpha=0.6, linewidth=0)
    if clocks.window_open:
        window_end = clocks.tau_mem if clocks.tau_mem is not None else run.last_step
        axes.axvspan(clocks.tau_rule, window_end, color="tab:blue", alpha=0.12, label="innovation window")
    axes.set_xscale("log")
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("training step (optimizer steps, log scale)")
    axes.set_ylabel("fraction of generated samples")
    axes.set_title(run_title(run), fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save(figure, path)


def interval_text(interval: tuple[float, float | None] | None) -> str:
    """`` [lo, hi]`` of a clock's interval (``> lo`` for an open end), or nothing."""
    if interval is None:
        return ""
    return f" [{interval[0]:.0f}, {interval[1]:.0f}]" if interval[1] is not None else f" [{interval[0]:.0f}, >last]"


def _fit_label(name: str, fit: Any) -> str:
    interval = ""
    if fit.slope_interval is not None:
        low, high = fit.slope_interval
        interval = f", {fit.confidence:.0%} CI [{low:.2f}, {high:.2f}]"
    return f"{name} = {fit.slope:.2f}{interval} ({fit.num_points} runs)"


def _scatter_against_n(axes: Any, runs: list[RunResult], value: Callable[[Clocks], float | None]) -> list[RunResult]:
    """Scatter ``value`` of each run's clocks against N, one colour per complexity; returns the runs drawn."""
    measured = [run for run in runs if run.clocks is not None and value(run.clocks) is not None]
    for complexity in sorted({run.complexity for run in measured}, key=lambda number: (number is None, number)):
        group = [run for run in measured if run.complexity == complexity]
        label = f"complexity {complexity:g}" if complexity is not None else "runs"
        axes.scatter([run.n_train for run in group], [value(run.clocks) for run in group], label=label, zorder=3)
    return measured


def plot_tau_mem_vs_n(runs: list[RunResult], analysis: SweepAnalysis, path: Path) -> Path:
    """tau_mem against N on log-log axes: every run (seed) as a point, runs that never crossed as lower bounds at
    their last step, the geometric mean over seeds with its interval, the naive and censored power-law fits, a
    slope-1 guide and any predictions."""
    plt = pyplot()
    fit, censored_fit = analysis.tau_mem_fit, analysis.tau_mem_censored_fit
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    measured = _scatter_against_n(axes, runs, lambda clocks: clocks.tau_mem)
    bounds = [run for run in runs if run.clocks is not None and run.n_train is not None and tau_mem_bound(run)[1]]
    if bounds:
        axes.scatter(
            [run.n_train for run in bounds],
            [run.last_step for run in bounds],
            marker="^",
            facecolors="none",
            edgecolors="black",
            zorder=3,
            label=f"never crossed: lower bound at last step ({len(bounds)})",
        )
    pooled = [point for point in analysis.pooled if point.mean is not None]
    if any(point.num_runs > 1 for point in pooled):
        errors = np.array(
            [
                [point.mean - point.interval[0], point.interval[1] - point.mean] if point.interval else [0.0, 0.0]
                for point in pooled
            ]
        ).T
        axes.errorbar(
            [point.n_train for point in pooled],
            [point.mean for point in pooled],
            yerr=errors,
            fmt="D",
            color="black",
            markersize=5,
            capsize=3,
            zorder=4,
            label=f"mean over seeds, {fit.confidence:.0%} interval",
        )
    sizes = [run.n_train for run in measured + bounds] + [prediction.n_train for prediction in analysis.predictions]
    n_range = np.geomspace(min(sizes), max(sizes), 50)
    axes.plot(n_range, 10 ** fit.predict(np.log10(n_range)), color="black", label=_fit_label("naive fit: b", fit))
    if censored_fit is not None and not analysis.censored_fit_uses_complexity:
        low, high = censored_fit.slope_interval
        axes.plot(
            n_range,
            10 ** (censored_fit.coefficients[0] + censored_fit.slope * np.log10(n_range)),
            color="tab:blue",
            linestyle="--",
            label=f"censored (Tobit) fit: b = {censored_fit.slope:.2f} [{low:.2f}, {high:.2f}]",
        )
    for prediction in analysis.predictions:
        low, high = prediction.tau_mem_interval
        axes.errorbar(
            [prediction.n_train],
            [prediction.tau_mem],
            yerr=[[prediction.tau_mem - low], [high - prediction.tau_mem]],
            fmt="*",
            color="tab:purple",
            markersize=10,
            capsize=4,
            zorder=5,
            label=f"predicted N={prediction.n_train}: {prediction.tau_mem:.0f} [{low:.0f}, {high:.0f}]",
        )
    middle = math.sqrt(n_range[0] * n_range[-1])
    axes.plot(
        n_range, 10 ** fit.predict(math.log10(middle)) * n_range / middle, color="gray", linestyle=":", label="slope 1"
    )
    axes.set_xscale("log")
    axes.set_yscale("log")
    plain_log_ticks(axes.xaxis)
    plain_log_ticks(axes.yaxis)
    axes.set_xlabel("training set size N (samples)")
    axes.set_ylabel("tau_mem (optimizer steps)")
    axes.set_title("Memorization time against N: log tau_mem = a + b log N", fontsize=10)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save(figure, path)


def plot_families(comparison: FamilyComparison, path: Path) -> Path:
    """DiT and GPT runs on one rule, complexity and N: validity (solid) and mem_excess (dashed) of every run, one
    colour per family, and each family's geometric-mean clocks as vertical lines."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7.0, 4.0))
    for family, family_runs in comparison.runs.items():
        colour = FAMILY_COLOURS[family]
        for index, run in enumerate(family_runs):
            rule_series, mem_series = run.clock_series
            label = family.upper() if index == 0 else None
            steps = run.curves["step"]
            axes.plot(steps, run.curves[rule_series], color=colour, label=f"{label} {rule_series}" if label else None)
            axes.plot(
                steps,
                run.curves[mem_series],
                color=colour,
                linestyle="--",
                label=f"{label} {mem_series}" if label else None,
            )
        for clock, style in (("tau_rule", ":"), ("tau_mem", "-.")):
            value = getattr(comparison, clock)[family]
            if value is not None:
                axes.axvline(
                    value, color=colour, linestyle=style, linewidth=1.5, label=f"{family.upper()} {clock} = {value:.0f}"
                )
    axes.set_xscale("log")
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("training step (optimizer steps, log scale)")
    axes.set_ylabel("fraction of generated samples")
    complexity = f" complexity {comparison.complexity:g}" if comparison.complexity is not None else ""
    axes.set_title(f"DiT against GPT: {comparison.rule}{complexity}, N={comparison.n_train}", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save(figure, path)


def plot_tau_rule_vs(runs: list[RunResult], key: str, path: Path, confidence: float = 0.95) -> Path:
    """tau_rule against complexity or a capacity hyperparameter: every run (seed), runs that never crossed at their
    last step, and the geometric mean per value with its t interval over runs."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6.0, 4.5))

    def knob(run: RunResult) -> float | None:
        return run.complexity if key == "complexity" else run.capacity(key)

    measured = [run for run in runs if run.clocks is not None and knob(run) is not None]
    sizes = sorted({run.n_train for run in measured}, key=lambda value: (value is None, value))
    for n_train in sizes:
        group = [run for run in measured if run.n_train == n_train]
        crossed = [run for run in group if run.clocks.tau_rule is not None]
        axes.scatter([knob(run) for run in crossed], [run.clocks.tau_rule for run in crossed], label=f"N={n_train}")
    never = [run for run in measured if run.clocks.tau_rule is None]
    if never:
        axes.scatter(
            [knob(run) for run in never],
            [run.last_step for run in never],
            marker="^",
            facecolors="none",
            edgecolors="black",
            label="not reached by the last step",
        )
    knobs = sorted({knob(run) for run in measured})
    pooled = [
        (value, *geometric_mean_interval([run.clocks.tau_rule for run in measured if knob(run) == value], confidence))
        for value in knobs
    ]
    pooled = [(value, mean, interval or (mean, mean)) for value, mean, interval in pooled if mean is not None]
    axes.errorbar(
        [value for value, _, _ in pooled],
        [mean for _, mean, _ in pooled],
        yerr=[[mean - low for _, mean, (low, _) in pooled], [high - mean for _, mean, (_, high) in pooled]],
        color="black",
        linewidth=1,
        capsize=3,
        label=f"geometric mean over runs, {confidence:.0%} interval",
    )
    axes.set_yscale("log")
    plain_log_ticks(axes.yaxis)
    axes.set_xticks(knobs)
    axes.set_xlabel("rule complexity (e.g. parity group size G)" if key == "complexity" else f"model {key}")
    axes.set_ylabel("tau_rule (optimizer steps)")
    axes.set_title(f"Rule-learning time against {'rule complexity' if key == 'complexity' else key}", fontsize=10)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    return save(figure, path)


def plot_window_vs_n(runs: list[RunResult], analysis: SweepAnalysis, path: Path) -> Path:
    """Window width log10(tau_mem / tau_rule) against N, with its fit and the N where the fit reaches zero."""
    plt = pyplot()
    fit = analysis.window_fit
    figure, axes = plt.subplots(figsize=(6.0, 4.5))
    measured = _scatter_against_n(axes, runs, lambda clocks: clocks.window)
    n_range = np.geomspace(min(run.n_train for run in measured), max(run.n_train for run in measured), 50)
    axes.plot(
        n_range, fit.predict(np.log10(n_range)), color="black", label=_fit_label("fit: width per decade of N", fit)
    )
    axes.axhline(0.0, color="tab:red", linestyle="--", linewidth=1, label="window vanishes (tau_rule = tau_mem)")
    if analysis.window_vanishes_at_n is not None:
        axes.annotate(
            f"fit reaches 0 at N = {analysis.window_vanishes_at_n:.3g}",
            xy=(0.02, 0.96),
            xycoords="axes fraction",
            va="top",
            fontsize=8,
        )
    axes.set_xscale("log")
    plain_log_ticks(axes.xaxis)
    axes.set_xlabel("training set size N (samples)")
    axes.set_ylabel("window width log10(tau_mem / tau_rule) (decades)")
    axes.set_title("Innovation window width against N", fontsize=10)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8, loc="lower right")
    return save(figure, path)


def plot_window_map(runs: list[RunResult], analysis: SweepAnalysis, path: Path) -> Path:
    """An N x complexity grid: the fraction of runs (seeds) whose innovation window is open in each cell,
    annotated with the mean window width where both clocks crossed."""
    plt = pyplot()
    cells = analysis.window_open_map
    sizes = sorted({n_train for n_train, _ in cells})
    complexities = sorted({complexity for _, complexity in cells})
    grid = np.full((len(complexities), len(sizes)), np.nan)
    for (n_train, complexity), fraction in cells.items():
        grid[complexities.index(complexity), sizes.index(n_train)] = fraction
    figure, axes = plt.subplots(figsize=(1.5 * len(sizes) + 2.5, 0.8 * len(complexities) + 2.0))
    image = axes.imshow(grid, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto", origin="lower")
    for row, column in np.ndindex(grid.shape):
        if not np.isnan(grid[row, column]):
            word = "open" if grid[row, column] == 1 else "vanished" if grid[row, column] == 0 else "mixed"
            widths = [
                run.clocks.window
                for run in runs
                if run.clocks is not None
                and run.clocks.window is not None
                and (run.n_train, run.complexity) == (sizes[column], complexities[row])
            ]
            width = f"\nwidth {np.mean(widths):+.2f}" if widths else ""
            label = f"{word} ({grid[row, column]:.0%}){width}"
            axes.text(column, row, label, ha="center", va="center", fontsize=8)
    axes.set_xticks(range(len(sizes)), [str(size) for size in sizes])
    axes.set_yticks(range(len(complexities)), [f"{value:g}" for value in complexities])
    axes.set_xlabel("training set size N (samples)")
    axes.set_ylabel("rule complexity")
    axes.set_title("Where the innovation window is open (width in decades of steps)", fontsize=10)
    figure.colorbar(image, ax=axes, label="fraction of runs with an open window")
    return save(figure, path)


def sweep_figures(
    runs: list[RunResult], analysis: SweepAnalysis, folder: Path, suffix: str = ".png", confidence: float = 0.95
) -> dict[str, Path]:
    """Every sweep figure the runs support (files ending in ``suffix``; intervals at ``confidence``), keyed by a
    caption; none for a single run."""
    figures: dict[str, Path] = {}
    if analysis.tau_mem_fit is not None:
        figures["tau_mem against N (log-log) with the fitted slope"] = plot_tau_mem_vs_n(
            runs, analysis, folder / f"tau_mem_vs_n{suffix}"
        )
    if len(analysis.tau_rule_by_complexity) >= 2:
        figures["tau_rule against rule complexity"] = plot_tau_rule_vs(
            runs, "complexity", folder / f"tau_rule_vs_complexity{suffix}", confidence
        )
    for key in analysis.capacity_keys:
        figures[f"tau_rule against model {key} (capacity)"] = plot_tau_rule_vs(
            runs, key, folder / f"tau_rule_vs_{key}{suffix}", confidence
        )
    if analysis.window_fit is not None:
        figures["innovation window width against N"] = plot_window_vs_n(runs, analysis, folder / f"window_vs_n{suffix}")
    if len(analysis.window_open_map) >= 2:
        figures["N x complexity map of the innovation window"] = plot_window_map(
            runs, analysis, folder / f"window_map{suffix}"
        )
    return figures


def family_figures(comparisons: Sequence[FamilyComparison], folder: Path, suffix: str = ".png") -> dict[str, Path]:
    """One DiT against GPT figure per (rule, complexity, N) that both families measured, keyed by a caption."""
    figures: dict[str, Path] = {}
    for comparison in comparisons:
        complexity = f"_c{comparison.complexity:g}" if comparison.complexity is not None else ""
        stem = f"dit_vs_gpt_{comparison.rule}{complexity}_n{comparison.n_train}"
        figures[
            f"DiT against GPT: {comparison.rule}{complexity.replace('_c', ' complexity ')}, N={comparison.n_train}"
        ] = plot_families(comparison, folder / f"{stem}{suffix}")
    return figures
