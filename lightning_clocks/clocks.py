"""The two clocks as pure functions of saved curves (definitions in docs/method.md, "Clocks").

``tau_rule`` is the first step at which the rule series (``validity`` for generative models)
reaches ``rule_threshold``; ``tau_mem`` the first step at which the memorization series
(``mem_excess``) reaches ``mem_threshold``. Curves may be smoothed with a Gaussian over the
evaluation index; a crossing is interpolated linearly in log10(step) between the two evaluations
that bracket it. A clock that never crosses is ``None``.

Every rate is a count over the ``num_samples`` samples of its evaluation, so each has a Wilson
interval (closed form, :func:`wilson_interval`; ``mem_excess``, a difference of two rates, has
Newcombe's interval built from two Wilson intervals). A clock's interval is the range of steps over
which its crossing is consistent with that noise: from the step at which the band's upper edge
crosses the threshold to the step at which its lower edge does (docs/method.md, "Uncertainty").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from lightning_clocks.errors import ConfigError, check_threshold, require_non_negative

#: theta_rule and theta_mem of generative models, and the series they cross: the defaults of every command.
DEFAULT_RULE_THRESHOLD = 0.5
DEFAULT_MEM_THRESHOLD = 0.1
RULE_SERIES = "validity"
MEM_SERIES = "mem_excess"
#: The curves' column holding M, the samples each rate was counted over, and the rates whose difference is mem_excess.
COUNT_SERIES = "num_samples"
COPY_SERIES, CONTROL_COPY_SERIES = "copy_rate", "control_copy_rate"
#: The standard normal quantile of a two-sided 95% interval: the bands and clock intervals are 95% intervals.
Z_95 = 1.959963984540054


def log_spaced_steps(first_step: int, last_step: int, num_evaluations: int) -> list[int]:
    """About ``num_evaluations`` distinct integer steps, log-spaced from ``first_step`` to ``last_step``."""
    if first_step < 1 or last_step < first_step or num_evaluations < 1:
        raise ConfigError(
            f"a log-spaced schedule needs 1 <= first_step <= last_step and num_evaluations >= 1; "
            f"got first_step={first_step}, last_step={last_step}, num_evaluations={num_evaluations}"
        )
    points = np.geomspace(first_step, last_step, num_evaluations)
    return sorted({round(float(step)) for step in points})


def gaussian_smooth(values: Sequence[float], sigma: float) -> np.ndarray:
    """Gaussian smoothing over the evaluation index (kernel renormalised at the edges); identity for sigma 0."""
    series = np.asarray(values, dtype=np.float64)
    require_non_negative("smoothing", sigma)
    if sigma == 0 or series.size == 0:
        return series
    index = np.arange(series.size)
    weights = np.exp(-0.5 * ((index[:, None] - index[None, :]) / sigma) ** 2)
    return weights @ series / weights.sum(axis=1)


def first_crossing(steps: Sequence[float], values: Sequence[float], threshold: float) -> float | None:
    """First step at which ``values`` reaches ``threshold``, interpolated linearly in log10(step).

    If the very first evaluation is already at or above the threshold, its step is returned.
    ``None`` when the threshold is never reached.
    """
    for index, value in enumerate(values):
        if value >= threshold:
            if index == 0:
                return float(steps[0])
            before, after = float(values[index - 1]), float(value)
            fraction = (threshold - before) / (after - before)
            log_before, log_after = math.log10(steps[index - 1]), math.log10(steps[index])
            return float(10 ** (log_before + fraction * (log_after - log_before)))
    return None


def wilson_interval(
    rate: Sequence[float] | float, count: Sequence[float] | float, z: float = Z_95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval ``(low, high)`` of a proportion ``rate`` seen over ``count`` trials (arrays or scalars).

    For p = rate and n = count: centre (p + z²/2n) / (1 + z²/n), half-width
    z sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n). Unlike the normal interval it stays inside [0, 1] and has
    width at p = 0 (a rate of zero copies over 512 samples is still consistent with a small positive rate).
    """
    p = np.clip(np.asarray(rate, dtype=np.float64), 0.0, 1.0)
    n = np.asarray(count, dtype=np.float64)
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * np.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def newcombe_interval(
    rate_a: Sequence[float], rate_b: Sequence[float], count: Sequence[float], z: float = Z_95
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval of the difference ``rate_a - rate_b``, each rate counted over ``count``:
    ``d - sqrt((a - low_a)² + (high_b - b)²)`` to ``d + sqrt((high_a - a)² + (b - low_b)²)``."""
    a, b = np.asarray(rate_a, dtype=np.float64), np.asarray(rate_b, dtype=np.float64)
    low_a, high_a = wilson_interval(a, count, z)
    low_b, high_b = wilson_interval(b, count, z)
    difference = a - b
    low = difference - np.sqrt((a - low_a) ** 2 + (high_b - b) ** 2)
    high = difference + np.sqrt((high_a - a) ** 2 + (b - low_b) ** 2)
    return low, high


def rate_band(curves: Mapping[str, Sequence[float]], series: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The 95% band ``(low, high)`` of column ``series`` at every evaluation, from the counts in ``num_samples``.

    ``mem_excess`` gets Newcombe's interval of copy_rate - control_copy_rate; any other column is a rate
    with a Wilson interval. ``None`` when the curves hold no ``num_samples`` column (the pair task's).
    """
    if COUNT_SERIES not in curves or series not in curves:
        return None
    count = curves[COUNT_SERIES]
    if series == MEM_SERIES and COPY_SERIES in curves and CONTROL_COPY_SERIES in curves:
        return newcombe_interval(curves[COPY_SERIES], curves[CONTROL_COPY_SERIES], count)
    return wilson_interval(curves[series], count)


def crossing_interval(
    steps: Sequence[float], band: tuple[Sequence[float], Sequence[float]], threshold: float
) -> tuple[float, float | None] | None:
    """The steps over which a crossing of ``threshold`` is consistent with the band: ``(first crossing of the
    upper edge, first crossing of the lower edge)``; the end is ``None`` when the lower edge never crosses,
    and the interval is ``None`` when even the upper edge never does."""
    low, high = band
    start = first_crossing(steps, high, threshold)
    return None if start is None else (start, first_crossing(steps, low, threshold))


def window_state(tau_rule: float | None, tau_mem: float | None) -> str:
    """The innovation window as a word: ``open`` when tau_rule exists and (tau_mem is null or tau_rule < tau_mem),
    ``closed`` when tau_rule >= tau_mem, ``unknown`` when tau_rule is null (the rule was not learnt in the steps
    trained, so where the window would lie is not measured; docs/method.md, "Clocks")."""
    if tau_rule is None:
        return "unknown"
    return "open" if tau_mem is None or tau_rule < tau_mem else "closed"


@dataclass(frozen=True)
class Clocks:
    """The two clocks of one run, the series they crossed, and whether the innovation window is open."""

    tau_rule: float | None
    tau_mem: float | None
    rule_threshold: float
    mem_threshold: float
    smoothing: float
    rule_series: str = RULE_SERIES
    mem_series: str = MEM_SERIES
    #: Steps over which each crossing is consistent with the 95% band of its series (``None``: no counts, or even
    #: the band's upper edge never crossed; an open end ``None``: the lower edge never crossed).
    tau_rule_interval: tuple[float, float | None] | None = None
    tau_mem_interval: tuple[float, float | None] | None = None

    @property
    def window_open(self) -> bool:
        """Open when tau_rule exists and (tau_mem is None or tau_rule < tau_mem)."""
        return window_state(self.tau_rule, self.tau_mem) == "open"

    @property
    def window(self) -> float | None:
        """Width of the innovation window in log10 steps; ``None`` unless both clocks crossed."""
        if self.tau_rule is None or self.tau_mem is None:
            return None
        return math.log10(self.tau_mem) - math.log10(self.tau_rule)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "window_open": self.window_open, "window_log10": self.window}


def measure_clocks(
    curves: Mapping[str, Sequence[float]],
    rule_threshold: float = DEFAULT_RULE_THRESHOLD,
    mem_threshold: float = DEFAULT_MEM_THRESHOLD,
    smoothing: float = 0.0,
    rule_series: str = RULE_SERIES,
    mem_series: str = MEM_SERIES,
) -> Clocks:
    """Both clocks from curves holding ``step`` and the two named series (``validity`` and ``mem_excess`` unless
    named otherwise: a pair task crosses ``rule_accuracy`` and ``accuracy/cycle``), and, where the curves hold
    ``num_samples``, each clock's interval (the band's edges smoothed like the series)."""
    check_threshold("rule_threshold", rule_threshold)
    check_threshold("mem_threshold", mem_threshold)
    missing = sorted({"step", rule_series, mem_series} - set(curves))
    if missing:
        raise ConfigError(f"the curves lack the columns {missing} that the clocks cross; they have {sorted(curves)}")
    steps = list(curves["step"])

    def interval(series: str, threshold: float) -> tuple[float, float | None] | None:
        band = rate_band(curves, series)
        if band is None:
            return None
        return crossing_interval(steps, tuple(gaussian_smooth(edge, smoothing) for edge in band), threshold)

    return Clocks(
        tau_rule=first_crossing(steps, gaussian_smooth(curves[rule_series], smoothing), rule_threshold),
        tau_mem=first_crossing(steps, gaussian_smooth(curves[mem_series], smoothing), mem_threshold),
        rule_threshold=rule_threshold,
        mem_threshold=mem_threshold,
        smoothing=smoothing,
        rule_series=rule_series,
        mem_series=mem_series,
        tau_rule_interval=interval(rule_series, rule_threshold),
        tau_mem_interval=interval(mem_series, mem_threshold),
    )
