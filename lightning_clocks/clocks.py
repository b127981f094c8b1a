"""The two clocks as pure functions of saved curves (definitions in docs/method.md, "Clocks").

``tau_rule`` is the first step at which the rule series (``validity`` for generative models)
reaches ``rule_threshold``; ``tau_mem`` the first step at which the memorization series
(``mem_excess``) reaches ``mem_threshold``. Curves may be smoothed with a Gaussian over the
evaluation index; a crossing is interpolated linearly in log10(step) between the two evaluations
that bracket it. A clock that never crosses is ``None``.
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

    @property
    def window_open(self) -> bool:
        """Open when tau_rule exists and (tau_mem is None or tau_rule < tau_mem)."""
        return self.tau_rule is not None and (self.tau_mem is None or self.tau_rule < self.tau_mem)

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
    named otherwise: a pair task crosses ``rule_accuracy`` and ``accuracy/cycle``)."""
    check_threshold("rule_threshold", rule_threshold)
    check_threshold("mem_threshold", mem_threshold)
    missing = sorted({"step", rule_series, mem_series} - set(curves))
    if missing:
        raise ConfigError(f"the curves lack the columns {missing} that the clocks cross; they have {sorted(curves)}")
    steps = list(curves["step"])
    return Clocks(
        tau_rule=first_crossing(steps, gaussian_smooth(curves[rule_series], smoothing), rule_threshold),
        tau_mem=first_crossing(steps, gaussian_smooth(curves[mem_series], smoothing), mem_threshold),
        rule_threshold=rule_threshold,
        mem_threshold=mem_threshold,
        smoothing=smoothing,
        rule_series=rule_series,
        mem_series=mem_series,
    )
