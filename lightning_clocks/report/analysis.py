"""The scaling analysis of a set of runs (docs/method.md, "Scaling"): which comparisons they support, and the fits."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from lightning_clocks.report.runs import RunResult, varying_capacity_keys
from lightning_clocks.report.scaling import LineFit, fit_line, fit_power_law, vanishing_point, window_map


@dataclass(frozen=True)
class SweepAnalysis:
    """Fits and summaries over the measured runs; a field is ``None`` where the runs do not vary what it needs."""

    tau_mem_fit: LineFit | None
    window_fit: LineFit | None
    window_vanishes_at_n: float | None
    tau_rule_by_complexity: dict[float, list[float | None]]
    capacity_keys: list[str]
    window_open_map: dict[tuple[float, float], float]

    @property
    def has_sweep_figures(self) -> bool:
        return (
            any((self.tau_mem_fit, self.window_fit, len(self.tau_rule_by_complexity) >= 2, self.capacity_keys))
            or len(self.window_open_map) >= 2
        )


def distinct(values: list[float | None]) -> int:
    return len(set(values) - {None})


def analyze(runs: list[RunResult], confidence: float = 0.95) -> SweepAnalysis:
    """Fit tau_mem against N and window width against N; group tau_rule by complexity; map the open windows."""
    measured = [run for run in runs if run.clocks is not None and run.n_train is not None]
    with_mem = [run for run in measured if run.clocks.tau_mem is not None]
    tau_mem_fit = None
    if distinct([run.n_train for run in with_mem]) >= 2:
        tau_mem_fit = fit_power_law(
            [run.n_train for run in with_mem], [run.clocks.tau_mem for run in with_mem], confidence
        )
    with_window = [run for run in measured if run.clocks.window is not None]
    window_fit = None
    if distinct([run.n_train for run in with_window]) >= 2:
        log_n = [math.log10(run.n_train) for run in with_window]
        window_fit = fit_line(log_n, [run.clocks.window for run in with_window], confidence)
    by_complexity: dict[float, list[float | None]] = defaultdict(list)
    for run in measured:
        if run.complexity is not None:
            by_complexity[run.complexity].append(run.clocks.tau_rule)
    cells = [(run.n_train, run.complexity, run.clocks.window_open) for run in measured if run.complexity is not None]
    return SweepAnalysis(
        tau_mem_fit=tau_mem_fit,
        window_fit=window_fit,
        window_vanishes_at_n=vanishing_point(window_fit) if window_fit is not None else None,
        tau_rule_by_complexity=dict(sorted(by_complexity.items())),
        capacity_keys=varying_capacity_keys(measured),
        window_open_map=window_map(cells),
    )


def geometric_mean(values: list[float | None]) -> float | None:
    """Geometric mean of the crossed clocks (``None`` if none crossed)."""
    crossed = [value for value in values if value is not None]
    return float(np.exp(np.mean(np.log(crossed)))) if crossed else None
