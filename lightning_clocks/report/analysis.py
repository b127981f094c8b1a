"""The scaling analysis of a set of runs (docs/method.md, "Scaling" and "Uncertainty"): which comparisons they
support, the fits (naive and censored), seeds pooled per N, predictions for unseen N, and DiT/GPT pairs."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lightning_clocks.errors import ConfigError
from lightning_clocks.report.runs import RunResult, varying_capacity_keys
from lightning_clocks.report.scaling import (
    CensoredFit,
    LineFit,
    fit_censored,
    fit_line,
    fit_power_law,
    t_quantile,
    vanishing_point,
    window_map,
)


@dataclass(frozen=True)
class PooledPoint:
    """The runs (seeds) at one (N, complexity): how many, how many crossed tau_mem, and the geometric mean of the
    crossed tau_mem with its t interval over seeds (``None`` with fewer than two crossed)."""

    n_train: int
    complexity: float | None
    num_runs: int
    num_crossed: int
    mean: float | None
    interval: tuple[float, float] | None


@dataclass(frozen=True)
class Prediction:
    """tau_mem predicted by the censored fit for an unseen N (and complexity), with its prediction interval, the
    tau_rule expected there (geometric mean of the measured runs) and the suggested ``trainer.max_steps``."""

    n_train: int
    complexity: float | None
    tau_mem: float
    tau_mem_interval: tuple[float, float]
    confidence: float
    tau_rule: float | None
    max_steps: int

    @property
    def window_log10(self) -> float | None:
        return None if self.tau_rule is None else math.log10(self.tau_mem / self.tau_rule)

    def to_dict(self) -> dict[str, object]:
        return {
            "n_train": self.n_train,
            "complexity": self.complexity,
            "tau_mem": self.tau_mem,
            "tau_mem_interval": list(self.tau_mem_interval),
            "confidence": self.confidence,
            "tau_rule": self.tau_rule,
            "window_log10": self.window_log10,
            "max_steps": self.max_steps,
        }


@dataclass(frozen=True)
class FamilyComparison:
    """DiT and GPT runs on the same rule, complexity and N: each family's geometric-mean clocks."""

    rule: str
    complexity: float | None
    n_train: int | None
    runs: dict[str, list[RunResult]]
    tau_rule: dict[str, float | None]
    tau_mem: dict[str, float | None]

    def ratio(self, clock: str) -> float | None:
        """DiT's clock over GPT's (``None`` unless both crossed)."""
        values = getattr(self, clock)
        return None if values["dit"] is None or values["gpt"] is None else values["dit"] / values["gpt"]


@dataclass(frozen=True)
class SweepAnalysis:
    """Fits and summaries over the measured runs; a field is ``None`` where the runs do not vary what it needs."""

    tau_mem_fit: LineFit | None
    window_fit: LineFit | None
    window_vanishes_at_n: float | None
    tau_rule_by_complexity: dict[float, list[float | None]]
    capacity_keys: list[str]
    window_open_map: dict[tuple[float, float], float]
    tau_mem_censored_fit: CensoredFit | None = None
    censored_fit_uses_complexity: bool = False
    pooled: tuple[PooledPoint, ...] = ()
    predictions: tuple[Prediction, ...] = ()


def distinct(values: list[float | None]) -> int:
    return len(set(values) - {None})


def tau_mem_bound(run: RunResult) -> tuple[float, bool]:
    """``(tau_mem, False)`` for a run that crossed; ``(last step, True)`` for one that never did: a lower bound."""
    return (run.clocks.tau_mem, False) if run.clocks.tau_mem is not None else (float(run.last_step), True)


def censored_tau_mem_fit(runs: list[RunResult], confidence: float) -> tuple[CensoredFit | None, bool]:
    """Tobit fit of log10 tau_mem on log10 N (and complexity, where the runs vary it) over every run, the runs that
    never crossed as lower bounds; ``(None, False)`` where the runs do not support it."""
    if distinct([run.n_train for run in runs]) < 2:
        return None, False  # no scaling in N to fit (one N, or runs without one, such as ti-fit's)
    use_complexity = distinct([run.complexity for run in runs]) >= 2
    rows, values, flags = [], [], []
    for run in runs:
        tau, censored = tau_mem_bound(run)
        rows.append([1.0, math.log10(run.n_train), *([run.complexity] if use_complexity else [])])
        values.append(math.log10(tau))
        flags.append(censored)
    try:
        return fit_censored(rows, values, flags, confidence), use_complexity
    except ValueError:  # too few crossed runs at distinct N: no fit, as with the naive one
        return None, use_complexity


def pool_seeds(runs: list[RunResult], confidence: float) -> tuple[PooledPoint, ...]:
    """One point per (N, complexity) over its runs (seeds): the geometric mean of the crossed tau_mem and a t
    interval on the mean of their log10."""
    groups: dict[tuple[int, float | None], list[RunResult]] = defaultdict(list)
    for run in runs:
        groups[(run.n_train, run.complexity)].append(run)
    points = []
    for (n_train, complexity), group in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        crossed = [run.clocks.tau_mem for run in group if run.clocks.tau_mem is not None]
        mean, interval = geometric_mean_interval(crossed, confidence)
        points.append(PooledPoint(n_train, complexity, len(group), len(crossed), mean, interval))
    return tuple(points)


def geometric_mean_interval(
    values: list[float | None], confidence: float
) -> tuple[float | None, tuple[float, float] | None]:
    """The geometric mean of the crossed clocks and a Student-t interval on the mean of their log10 (``None`` with
    fewer than two)."""
    logs = np.log10([value for value in values if value is not None])
    if not logs.size:
        return None, None
    if logs.size < 2:
        return float(10 ** logs.mean()), None
    half = t_quantile(0.5 + confidence / 2, logs.size - 1) * logs.std(ddof=1) / math.sqrt(logs.size)
    return float(10 ** logs.mean()), (float(10 ** (logs.mean() - half)), float(10 ** (logs.mean() + half)))


def predict(
    fit: CensoredFit,
    use_complexity: bool,
    runs: list[RunResult],
    predict_n: Sequence[int],
    predict_complexity: float | None,
    margin: float,
) -> tuple[Prediction, ...]:
    """tau_mem at each N of ``predict_n`` from the censored fit, and ``trainer.max_steps`` = margin x the upper
    prediction bound."""
    if use_complexity and predict_complexity is None:
        complexities = sorted({run.complexity for run in runs})
        raise ConfigError(
            f"predict_complexity=None is invalid: the runs vary complexity {complexities}, so a prediction needs one"
        )
    same = [run for run in runs if predict_complexity is None or run.complexity == predict_complexity]
    tau_rule = geometric_mean([run.clocks.tau_rule for run in same or runs])
    predictions = []
    for n_train in predict_n:
        row = [1.0, math.log10(n_train), *([predict_complexity] if use_complexity else [])]
        mean, low, high = fit.predict(row)
        predictions.append(
            Prediction(
                n_train=n_train,
                complexity=predict_complexity,
                tau_mem=10**mean,
                tau_mem_interval=(10**low, 10**high),
                confidence=fit.confidence,
                tau_rule=tau_rule,
                max_steps=math.ceil(margin * 10**high),
            )
        )
    return tuple(predictions)


def split_by_family(runs: list[RunResult]) -> dict[str, list[RunResult]]:
    """The runs of each model family (``dit``, ``gpt``), for scaling laws fitted one family at a time; ``{"": runs}``
    when the runs are of one family (or name none). Pooling families in one fit would mix their offsets."""
    groups: dict[str, list[RunResult]] = defaultdict(list)
    for run in runs:
        groups[run.family or ""].append(run)
    if len(groups) < 2:
        return {"": runs}
    return dict(sorted(groups.items()))


def family_prefix(family: str) -> str:
    """How the report labels a finding or figure of one family's runs (``DIT: ``; nothing for runs of one family)."""
    return f"{family.upper()}: " if family else ""


def compare_families(runs: list[RunResult]) -> tuple[FamilyComparison, ...]:
    """Every (rule, complexity, N) measured by both DiT and GPT runs, with each family's geometric-mean clocks."""
    groups: dict[tuple[str, float | None, int | None], dict[str, list[RunResult]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for run in runs:
        if run.family in ("dit", "gpt"):
            setting = (run.summary.get("rule", {}).get("name", "rule"), run.complexity, run.n_train)
            groups[setting][run.family].append(run)
    return tuple(
        FamilyComparison(
            rule=rule,
            complexity=complexity,
            n_train=n_train,
            runs={family: families[family] for family in ("dit", "gpt")},
            tau_rule={family: geometric_mean([run.clocks.tau_rule for run in families[family]]) for family in families},
            tau_mem={family: geometric_mean([run.clocks.tau_mem for run in families[family]]) for family in families},
        )
        for (rule, complexity, n_train), families in groups.items()
        if set(families) == {"dit", "gpt"}
    )


def analyze(
    runs: list[RunResult],
    confidence: float = 0.95,
    predict_n: Sequence[int] = (),
    predict_complexity: float | None = None,
    max_steps_margin: float = 1.5,
) -> SweepAnalysis:
    """Fit tau_mem against N (naive and censored) and window width against N; pool seeds per N; group tau_rule by
    complexity; map the open windows; predict tau_mem at ``predict_n``; pair DiT and GPT runs."""
    measured = [run for run in runs if run.clocks is not None and run.n_train is not None]
    with_mem = [run for run in measured if run.clocks.tau_mem is not None]
    tau_mem_fit = None
    if distinct([run.n_train for run in with_mem]) >= 2:
        tau_mem_fit = fit_power_law(
            [run.n_train for run in with_mem], [run.clocks.tau_mem for run in with_mem], confidence
        )
    censored_fit, use_complexity = censored_tau_mem_fit(measured, confidence)
    predictions: tuple[Prediction, ...] = ()
    if predict_n:
        if censored_fit is None:
            raise ConfigError(
                f"predict_n={list(predict_n)} needs a censored tau_mem fit: more runs than coefficients, runs that "
                f"crossed tau_mem at two or more N, and scatter about the line (these runs: {len(with_mem)} crossed "
                f"of {len(measured)})"
            )
        predictions = predict(censored_fit, use_complexity, measured, predict_n, predict_complexity, max_steps_margin)
    with_window = [run for run in measured if run.clocks.window is not None]
    window_fit = None
    if distinct([run.n_train for run in with_window]) >= 2:
        log_n = [math.log10(run.n_train) for run in with_window]
        window_fit = fit_line(log_n, [run.clocks.window for run in with_window], confidence)
    by_complexity: dict[float, list[float | None]] = defaultdict(list)
    for run in measured:
        if run.complexity is not None:
            by_complexity[run.complexity].append(run.clocks.tau_rule)
    # A run that never reached tau_rule says nothing about where its window would lie (window unknown): left out.
    cells = [
        (run.n_train, run.complexity, run.clocks.window_open)
        for run in measured
        if run.complexity is not None and run.clocks.tau_rule is not None
    ]
    return SweepAnalysis(
        tau_mem_fit=tau_mem_fit,
        window_fit=window_fit,
        window_vanishes_at_n=vanishing_point(window_fit) if window_fit is not None else None,
        tau_rule_by_complexity=dict(sorted(by_complexity.items())),
        capacity_keys=varying_capacity_keys(measured),
        window_open_map=window_map(cells),
        tau_mem_censored_fit=censored_fit,
        censored_fit_uses_complexity=use_complexity,
        pooled=pool_seeds(measured, confidence),
        predictions=predictions,
    )


def geometric_mean(values: list[float | None]) -> float | None:
    """Geometric mean of the crossed clocks (``None`` if none crossed)."""
    crossed = [value for value in values if value is not None]
    return float(np.exp(np.mean(np.log(crossed)))) if crossed else None
