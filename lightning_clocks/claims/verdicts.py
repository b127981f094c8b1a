"""Decision rules of ``clocks claims`` (docs/claims.md, "Decision rules"), as pure functions of loaded runs.

Each rule turns the runs of a claim's sweeps (:class:`~lightning_clocks.report.runs.RunResult`, clocks measured)
into a :class:`Verdict`: ``reproduced``, ``not reproduced``, ``contradicted`` or ``inconclusive`` with its
reason. The numbers (bands, seeds, shares of the valid set) were fixed before any run and are the module's
constants. Fits are those of the report (:mod:`lightning_clocks.report.scaling`): a clock that never crossed is a
lower bound at the run's last step (Tobit fit), seeds are pooled per design point with Student-t intervals.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lightning_clocks.report.analysis import geometric_mean_interval
from lightning_clocks.report.runs import RunResult
from lightning_clocks.report.scaling import fit_censored, t_quantile

REPRODUCED, NOT_REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "not reproduced", "contradicted", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, CONTRADICTED, INCONCLUSIVE)
CONFIDENCE = 0.95
#: Seeds (runs) needed at every design point.
MIN_SEEDS = 3
#: A slope whose 95% interval lies inside +-NULL_BAND (decades of the clock per unit of x) is "no effect".
NULL_BAND = 0.1
#: C3: tau_mem ratios between rules inside [1/RATIO_BAND, RATIO_BAND] are "approximately invariant".
RATIO_BAND = 2.0
#: C3: N must be at most this fraction of every valid set compared.
MAX_VALID_SHARE = 1 / 64
#: C4: the exponent band of "nearly linear".
LINEAR_BAND = (0.7, 1.3)
#: C4, C5a, C8: N must span at least this many decades, from at least the batch size.
MIN_N_DECADES = 1.0


@dataclass
class Verdict:
    """One claim's verdict for one family: the number it rests on (``value`` in ``[low, high]``), the rule, why."""

    claim: str
    family: str
    verdict: str
    reason: str
    quantity: str = ""
    value: float | None = None
    low: float | None = None
    high: float | None = None
    runs: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inconclusive(claim: str, family: str, reason: str, runs: int = 0, **details: Any) -> Verdict:
    return Verdict(claim, family, INCONCLUSIVE, reason, runs=runs, details=details)


# ----------------------------------------------------------------------------- interval decisions
def decide_sign(low: float, high: float, expected: int) -> tuple[str, str]:
    """A slope expected to have sign ``expected`` (+1 or -1): its interval excludes 0 on the expected side ->
    reproduced, on the other side -> contradicted; lies inside +-NULL_BAND -> not reproduced; else inconclusive."""
    if expected * low > 0 and expected * high > 0:
        return REPRODUCED, "the interval excludes 0 on the claimed side"
    if expected * low < 0 and expected * high < 0:
        return CONTRADICTED, "the interval excludes 0 on the opposite side"
    if low >= -NULL_BAND and high <= NULL_BAND:
        return NOT_REPRODUCED, f"the interval lies inside +-{NULL_BAND} (no effect)"
    return INCONCLUSIVE, "the interval spans the decision"


def decide_inside(low: float, high: float, band: tuple[float, float], outside: str) -> tuple[str, str]:
    """The interval inside ``band`` -> reproduced; disjoint from it -> ``outside``; else inconclusive."""
    if band[0] <= low and high <= band[1]:
        return REPRODUCED, f"the interval lies inside [{band[0]:g}, {band[1]:g}]"
    if high < band[0] or low > band[1]:
        return outside, f"the interval lies outside [{band[0]:g}, {band[1]:g}]"
    return INCONCLUSIVE, f"the interval spans the edge of [{band[0]:g}, {band[1]:g}]"


# ----------------------------------------------------------------------------- run selection and bounds
def measured(runs: Sequence[RunResult]) -> list[RunResult]:
    """The runs whose clocks could be measured (finished, with curves)."""
    return [run for run in runs if run.clocks is not None and run.last_step is not None]


def rule_key(run: RunResult) -> tuple[str, float | None]:
    """A run's rule: its name and complexity."""
    return (run.summary.get("rule", {}).get("name", "rule"), run.complexity)


def clock_bound(run: RunResult, clock: str) -> tuple[float, bool]:
    """``(tau, False)`` for a clock that crossed; ``(last step, True)`` for one that did not (a lower bound)."""
    value = getattr(run.clocks, clock)
    return (float(value), False) if value is not None else (float(run.last_step), True)


def too_few_seeds(groups: dict[Any, list[RunResult]]) -> str | None:
    """A reason naming the design points with fewer than MIN_SEEDS runs (or that no run has finished), or None."""
    if not groups:
        return "too few runs: none has finished"
    short = {str(key): len(group) for key, group in groups.items() if len(group) < MIN_SEEDS}
    return f"too few runs: {short} (need {MIN_SEEDS} seeds per point)" if short else None


def design_points(
    runs: Sequence[RunResult], x_of: Callable[[RunResult], float]
) -> tuple[list[RunResult], dict[float, list[RunResult]], str | None]:
    """The measured ``runs``, grouped by their value of ``x_of``, and the reason they cannot decide a slope (too
    few seeds at a point, or a single point), or None."""
    runs = measured(runs)
    groups: dict[float, list[RunResult]] = defaultdict(list)
    for run in runs:
        groups[x_of(run)].append(run)
    reason = too_few_seeds(groups)
    if reason is None and len(groups) < 2:
        reason = "too few runs: one design point"
    return runs, groups, reason


def censored_slope(
    x: Sequence[float], y: Sequence[float], censored: Sequence[bool]
) -> tuple[float, tuple[float, float]] | str:
    """Tobit slope of y on x with its 95% interval, or the reason it cannot be fitted."""
    if len(set(x)) < 2:
        return "too few runs: one value of the varied setting"
    try:
        fit = fit_censored([[1.0, value] for value in x], list(y), list(censored), CONFIDENCE)
    except ValueError as error:
        return f"censored: {error}"
    return fit.slope, fit.slope_interval


def slope_verdict(
    claim: str,
    family: str,
    runs: Sequence[RunResult],
    x_of: Callable[[RunResult], float],
    clock: str,
    expected: int,
    quantity: str,
) -> Verdict:
    """The verdict on the sign of d log10(clock) / dx over ``runs`` (seeds pooled per x, censored runs kept)."""
    runs, groups, reason = design_points(runs, x_of)
    if reason is not None:
        return inconclusive(claim, family, reason, len(runs))
    bounds = [clock_bound(run, clock) for run in runs]
    fitted = censored_slope([x_of(run) for run in runs], [math.log10(b[0]) for b in bounds], [b[1] for b in bounds])
    points = {str(x): pooled(group, clock) for x, group in sorted(groups.items())}
    if isinstance(fitted, str):
        return inconclusive(claim, family, fitted, len(runs), points=points)
    slope, (low, high) = fitted
    verdict, reason = decide_sign(low, high, expected)
    censored = sum(b[1] for b in bounds)
    if censored:
        reason += f" ({censored} of {len(runs)} runs censored, kept as lower bounds)"
    data = figure_data(runs, x_of, bounds, clock)
    return Verdict(
        claim, family, verdict, reason, quantity, slope, low, high, len(runs), {"points": points, "data": data}
    )


def figure_data(
    runs: Sequence[RunResult], x_of: Callable[[RunResult], Any], bounds: Sequence[tuple[float, bool]], label: str
) -> dict[str, Any]:
    """Per run: x, the clock (or its lower bound) and whether it is censored, for the claim's figure."""
    return {
        "x": [x_of(run) for run in runs],
        "y": [bound[0] for bound in bounds],
        "censored": [bound[1] for bound in bounds],
        "label": label,
    }


def pooled(group: Sequence[RunResult], clock: str) -> dict[str, Any]:
    """A design point: runs, how many crossed ``clock``, the geometric mean of the crossed and its interval."""
    values = [getattr(run.clocks, clock) for run in group]
    mean, interval = geometric_mean_interval(values, CONFIDENCE)
    return {
        "runs": len(group),
        "crossed": sum(value is not None for value in values),
        "mean": mean,
        "interval": list(interval) if interval else None,
    }


def log_ratio_interval(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """The ratio of geometric means a/b with a pooled-variance Student-t 95% interval (df = n_a + n_b - 2)."""
    log_a, log_b = np.log10(a), np.log10(b)
    difference = float(log_a.mean() - log_b.mean())
    variance = ((log_a.size - 1) * log_a.var(ddof=1) + (log_b.size - 1) * log_b.var(ddof=1)) / (
        log_a.size + log_b.size - 2
    )
    half = t_quantile(0.5 + CONFIDENCE / 2, log_a.size + log_b.size - 2) * math.sqrt(
        variance * (1 / log_a.size + 1 / log_b.size)
    )
    return 10**difference, 10 ** (difference - half), 10 ** (difference + half)


# ----------------------------------------------------------------------------- the claims
def c1_complexity(family: str, runs: Sequence[RunResult]) -> Verdict:
    """C1: tau_rule increases with rule complexity: slope of log10 tau_rule on G (parity, one N) > 0."""
    return slope_verdict(
        "C1", family, runs, lambda run: float(run.complexity), "tau_rule", +1, "slope of log10 tau_rule per unit G"
    )


def c2_capacity(family: str, axes: dict[str, Sequence[RunResult]]) -> Verdict:
    """C2: tau_rule decreases with capacity, in depth and in width: slopes of log10 tau_rule on log2(size) < 0 on
    both axes -> reproduced; any > 0 -> contradicted; any without effect (the rest not opposite) -> not reproduced."""
    parts = {
        axis: slope_verdict(
            "C2",
            family,
            axis_runs,
            lambda run, key=axis: math.log2(float(run.capacity(key))),
            "tau_rule",
            -1,
            f"slope of log10 tau_rule per doubling of {axis}",
        )
        for axis, axis_runs in axes.items()
    }
    verdicts = [part.verdict for part in parts.values()]
    if not parts:
        return inconclusive("C2", family, "not run at this scale")
    if CONTRADICTED in verdicts:
        overall = CONTRADICTED
    elif all(verdict == REPRODUCED for verdict in verdicts):
        overall = REPRODUCED
    elif NOT_REPRODUCED in verdicts and INCONCLUSIVE not in verdicts:
        overall = NOT_REPRODUCED
    else:
        overall = INCONCLUSIVE
    reason = "; ".join(f"{axis}: {part.verdict} ({part.reason})" for axis, part in parts.items())
    first = next(iter(parts.values()))
    # The figure: every run's tau_rule against its model size on one axis ("n_layer 4", "n_embd 128", ...).
    data: dict[str, Any] = {"x": [], "y": [], "censored": [], "label": "tau_rule"}
    for axis, part in parts.items():
        drawn = part.details.get("data")
        if drawn:
            # Smallest size first along each axis: a categorical axis keeps the order its labels come in.
            for x, y, censored in sorted(zip(drawn["x"], drawn["y"], drawn["censored"], strict=True)):
                data["x"].append(f"{axis} {2**x:g}")
                data["y"].append(y)
                data["censored"].append(censored)
    return Verdict(
        "C2",
        family,
        overall,
        reason,
        first.quantity,
        first.value,
        first.low,
        first.high,
        sum(part.runs for part in parts.values()),
        {**{axis: part.to_dict() for axis, part in parts.items()}, "data": data if data["x"] else None},
    )


def c3_rule_invariance(family: str, runs: Sequence[RunResult]) -> Verdict:
    """C3: tau_mem approximately invariant to the rule at equal N: every ratio of tau_mem between two rules has its
    95% interval inside [1/2, 2] -> reproduced; one entirely outside -> not reproduced; else inconclusive."""
    runs = measured(runs)
    groups: dict[tuple[str, float | None], list[RunResult]] = defaultdict(list)
    for run in runs:
        groups[rule_key(run)].append(run)
    reason = too_few_seeds(groups)
    if reason is not None or len(groups) < 2:
        return inconclusive("C3", family, reason or "too few runs: one rule", len(runs))
    shares = {
        str(key): run.n_train / run.summary["rule"]["valid_count"]
        for key, group in groups.items()
        for run in group[:1]
        if run.summary.get("rule", {}).get("valid_count")
    }
    crowded = {key: share for key, share in shares.items() if share > MAX_VALID_SHARE}
    if crowded:
        return inconclusive("C3", family, f"design: N is more than 1/64 of the valid set of {crowded}", len(runs))
    if len({run.n_train for run in runs}) > 1:
        return inconclusive("C3", family, "design: the rules were compared at different N", len(runs))
    censored = {str(key): sum(run.clocks.tau_mem is None for run in group) for key, group in groups.items()}
    if any(censored.values()):
        return inconclusive("C3", family, f"censored: runs that never crossed tau_mem {censored}", len(runs))
    keys = sorted(groups, key=str)
    pairs = []
    for index, first in enumerate(keys):
        for second in keys[index + 1 :]:
            ratio, low, high = log_ratio_interval(
                [run.clocks.tau_mem for run in groups[second]], [run.clocks.tau_mem for run in groups[first]]
            )
            pairs.append({"rules": [str(second), str(first)], "ratio": ratio, "low": low, "high": high})
    decisions = [decide_inside(p["low"], p["high"], (1 / RATIO_BAND, RATIO_BAND), NOT_REPRODUCED) for p in pairs]
    worst = max(range(len(pairs)), key=lambda index: abs(math.log(pairs[index]["ratio"])))
    if any(verdict == NOT_REPRODUCED for verdict, _ in decisions):
        verdict = NOT_REPRODUCED
        worst = next(index for index, (v, _) in enumerate(decisions) if v == NOT_REPRODUCED)
    elif all(verdict == REPRODUCED for verdict, _ in decisions):
        verdict = REPRODUCED
    else:
        verdict = INCONCLUSIVE
    pair = pairs[worst]
    reason = f"{pair['rules'][0]} / {pair['rules'][1]}: {decisions[worst][1]}"
    data = figure_data(
        runs,
        lambda run: f"{rule_key(run)[0]} {rule_key(run)[1]:g}",
        [clock_bound(r, "tau_mem") for r in runs],
        "tau_mem",
    )
    return Verdict(
        "C3",
        family,
        verdict,
        reason,
        "tau_mem ratio between rules (farthest from 1)",
        pair["ratio"],
        pair["low"],
        pair["high"],
        len(runs),
        {"pairs": pairs, "data": data},
    )


def n_design_problem(runs: Sequence[RunResult], batch_size: int) -> str | None:
    """Why runs over N cannot decide a scaling claim (too few seeds, N below the batch size, under a decade)."""
    groups: dict[int, list[RunResult]] = defaultdict(list)
    for run in runs:
        groups[run.n_train].append(run)
    reason = too_few_seeds(groups)
    if reason is not None:
        return reason
    if len(groups) < 3:
        return f"too few runs: {len(groups)} values of N (need 3)"
    if min(groups) < batch_size:
        return f"design: N={min(groups)} is below the batch size {batch_size}"
    if math.log10(max(groups) / min(groups)) < MIN_N_DECADES:
        return f"design: N spans {math.log10(max(groups) / min(groups)):.2f} decades (need {MIN_N_DECADES})"
    return None


def c4_linear_in_n(family: str, runs: Sequence[RunResult], batch_size: int) -> Verdict:
    """C4: tau_mem ~ N^b nearly linearly: the 95% interval of b (Tobit fit of log10 tau_mem on log10 N) inside
    [0.7, 1.3] -> reproduced; disjoint from it -> contradicted; else inconclusive."""
    runs = measured(runs)
    problem = n_design_problem(runs, batch_size)
    if problem is not None:
        return inconclusive("C4", family, problem, len(runs))
    bounds = [clock_bound(run, "tau_mem") for run in runs]
    fitted = censored_slope(
        [math.log10(run.n_train) for run in runs], [math.log10(b[0]) for b in bounds], [b[1] for b in bounds]
    )
    if isinstance(fitted, str):
        return inconclusive("C4", family, fitted, len(runs))
    slope, (low, high) = fitted
    verdict, reason = decide_inside(low, high, LINEAR_BAND, CONTRADICTED)
    censored = sum(b[1] for b in bounds)
    if censored:
        reason += f" ({censored} of {len(runs)} runs censored)"
    points = {str(n): pooled([r for r in runs if r.n_train == n], "tau_mem") for n in sorted({r.n_train for r in runs})}
    data = figure_data(runs, lambda run: run.n_train, bounds, "tau_mem")
    details = {"points": points, "data": data}
    return Verdict("C4", family, verdict, reason, "exponent b of tau_mem ~ N^b", slope, low, high, len(runs), details)


def window_bound(run: RunResult) -> tuple[float, int] | None:
    """log10(tau_mem / tau_rule) and its kind: 0 measured, +1 a lower bound (tau_mem not crossed), -1 an upper
    bound (tau_rule not crossed); None when neither crossed."""
    tau_rule, rule_censored = clock_bound(run, "tau_rule")
    tau_mem, mem_censored = clock_bound(run, "tau_mem")
    if rule_censored and mem_censored:
        return None
    return math.log10(tau_mem / tau_rule), (1 if mem_censored else -1 if rule_censored else 0)


def window_verdict(
    claim: str, family: str, runs: Sequence[RunResult], x_of: Callable[[RunResult], float], expected: int, quantity: str
) -> Verdict:
    """The sign of d window / dx (window = log10 tau_mem/tau_rule); runs where one clock never crossed are bounds
    (all of one kind, or the fit is refused as censored both ways)."""
    runs, _, reason = design_points(runs, x_of)
    if reason is not None:
        return inconclusive(claim, family, reason, len(runs))
    bounded = [(run, window_bound(run)) for run in runs]
    usable = [(run, bound) for run, bound in bounded if bound is not None]
    kinds = {kind for _, (_, kind) in usable} - {0}
    if len(kinds) > 1:
        return inconclusive(claim, family, "censored both ways: some runs lack tau_rule, others tau_mem", len(runs))
    sign = -1 if kinds == {-1} else 1  # upper bounds become lower bounds of the negated window
    fitted = censored_slope(
        [x_of(run) for run, _ in usable],
        [sign * value for _, (value, _) in usable],
        [kind != 0 for _, (_, kind) in usable],
    )
    if isinstance(fitted, str):
        return inconclusive(claim, family, fitted, len(runs))
    slope, (low, high) = sign * fitted[0], sorted((sign * fitted[1][0], sign * fitted[1][1]))
    verdict, reason = decide_sign(low, high, expected)
    censored = sum(kind != 0 for _, (_, kind) in usable)
    if censored:
        reason += f" ({censored} of {len(usable)} windows are bounds)"
    data = figure_data(
        [run for run, _ in usable], x_of, [(value, kind != 0) for _, (value, kind) in usable], "log10 tau_mem/tau_rule"
    )
    return Verdict(claim, family, verdict, reason, quantity, slope, low, high, len(runs), {"data": data})


def c5a_window_widens_with_n(family: str, runs: Sequence[RunResult], batch_size: int) -> Verdict:
    """C5a: the window widens with N: slope of log10(tau_mem/tau_rule) on log10 N > 0."""
    problem = n_design_problem(measured(runs), batch_size)
    if problem is not None:
        return inconclusive("C5a", family, problem, len(runs))
    return window_verdict(
        "C5a", family, runs, lambda run: math.log10(run.n_train), +1, "slope of the window (decades) per decade of N"
    )


def c5b_window_narrows_with_complexity(family: str, runs: Sequence[RunResult]) -> Verdict:
    """C5b: the window narrows with complexity: slope of log10(tau_mem/tau_rule) on G < 0."""
    return window_verdict(
        "C5b", family, runs, lambda run: float(run.complexity), -1, "slope of the window (decades) per unit G"
    )


def c5c_window_vanishes(family: str, runs: Sequence[RunResult]) -> Verdict:
    """C5c: the window may vanish (tau_rule >= tau_mem): observed when every seed of some design point crossed
    tau_mem with tau_rule later or never -> reproduced; otherwise inconclusive (not reached by this design)."""
    runs = measured(runs)
    groups: dict[tuple[Any, ...], list[RunResult]] = defaultdict(list)
    for run in runs:
        groups[(*rule_key(run), run.n_train, tuple(sorted(run.values.items())))].append(run)
    closed = [
        key
        for key, group in groups.items()
        if len(group) >= MIN_SEEDS
        and all(run.clocks.tau_mem is not None and not run.clocks.window_open for run in group)
    ]
    if not closed:
        return inconclusive("C5c", family, "not reached: no design point had a closed window in every seed", len(runs))
    points = [f"{name} complexity {complexity:g}, N={n_train}" for name, complexity, n_train, _ in closed]
    return Verdict(
        "C5c",
        family,
        REPRODUCED,
        f"closed window in every seed at {points}",
        "design points with a closed window",
        float(len(closed)),
        runs=len(runs),
    )


def c6_both_families(gpt: Sequence[RunResult], dit: Sequence[RunResult]) -> Verdict:
    """C6: the same two clocks in DiT and GPT with architecture-dependent offsets, at one shared setting: in both
    families every seed crossed tau_rule before tau_mem, and the DiT/GPT ratio of tau_rule or of tau_mem has a 95%
    interval excluding 1 -> reproduced; a family whose every seed crossed both clocks in the wrong order, or both
    ratios inside [1/2, 2] -> not reproduced; a clock that never crossed -> inconclusive (censored)."""
    families = {"gpt": measured(gpt), "dit": measured(dit)}
    short = {name: len(runs) for name, runs in families.items() if len(runs) < MIN_SEEDS}
    if short:
        return inconclusive("C6", "both", f"too few runs: {short} (need {MIN_SEEDS} seeds per family)")
    count = sum(len(runs) for runs in families.values())
    for name, runs in families.items():
        if all(run.clocks.tau_rule is not None and run.clocks.tau_mem is not None for run in runs) and not any(
            run.clocks.window_open for run in runs
        ):
            return Verdict("C6", "both", NOT_REPRODUCED, f"{name}: tau_mem came first in every seed", runs=count)
    missing = {
        name: sum(run.clocks.tau_rule is None or run.clocks.tau_mem is None for run in runs)
        for name, runs in families.items()
    }
    if any(missing.values()):
        return inconclusive("C6", "both", f"censored: runs missing a clock {missing}", count)
    ratios = {
        clock: log_ratio_interval(
            [getattr(run.clocks, clock) for run in families["dit"]],
            [getattr(run.clocks, clock) for run in families["gpt"]],
        )
        for clock in ("tau_rule", "tau_mem")
    }
    details = {clock: {"ratio": r, "low": lo, "high": hi} for clock, (r, lo, hi) in ratios.items()}
    order = all(run.clocks.window_open for runs in families.values() for run in runs)
    offset = [clock for clock, (_, low, high) in ratios.items() if low > 1 or high < 1]
    ratio, low, high = ratios["tau_rule"]
    if order and offset:
        verdict, why = REPRODUCED, f"tau_rule < tau_mem in every run; offset in {offset}"
    elif all(lo >= 1 / RATIO_BAND and hi <= RATIO_BAND for _, lo, hi in ratios.values()):
        verdict, why = NOT_REPRODUCED, "no offset: both ratios inside [1/2, 2]"
    else:
        verdict = INCONCLUSIVE
        why = "the clocks' order differs between seeds" if not order else "the ratios' intervals include 1"
    return Verdict("C6", "both", verdict, why, "DiT / GPT tau_rule", ratio, low, high, count, details)


def c8_prediction(family: str, runs: Sequence[RunResult], batch_size: int) -> Verdict:
    """C8 "predictive": a Tobit fit of log10 tau_mem on log10 N over every N but the largest predicts the largest;
    the geometric mean of its measured tau_mem (seeds pooled) inside the 95% prediction interval -> reproduced;
    outside -> not reproduced; censored or too few -> inconclusive."""
    runs = measured(runs)
    problem = n_design_problem(runs, batch_size)
    if problem is not None:
        return inconclusive("C8", family, problem, len(runs))
    largest = max(run.n_train for run in runs)
    train = [run for run in runs if run.n_train < largest]
    held_out = [run.clocks.tau_mem for run in runs if run.n_train == largest]
    if any(value is None for value in held_out):
        return inconclusive("C8", family, f"censored: a run at N={largest} never crossed tau_mem", len(runs))
    bounds = [clock_bound(run, "tau_mem") for run in train]
    try:
        fit = fit_censored(
            [[1.0, math.log10(run.n_train)] for run in train],
            [math.log10(b[0]) for b in bounds],
            [b[1] for b in bounds],
            CONFIDENCE,
        )
    except ValueError as error:
        return inconclusive("C8", family, f"censored: {error}", len(runs))
    mean, low, high = fit.predict([1.0, math.log10(largest)])
    measured_mean = float(np.mean(np.log10(held_out)))
    inside = low <= measured_mean <= high
    reason = (
        f"measured {10**measured_mean:,.0f} at N={largest} is {'inside' if inside else 'outside'} the prediction "
        f"[{10**low:,.0f}, {10**high:,.0f}] (point {10**mean:,.0f})"
    )
    return Verdict(
        "C8",
        family,
        REPRODUCED if inside else NOT_REPRODUCED,
        reason,
        f"measured / predicted tau_mem at N={largest}",
        10 ** (measured_mean - mean),
        10 ** (low - mean),
        10 ** (high - mean),
        len(runs),
        {
            "predicted": 10**mean,
            "measured": 10**measured_mean,
            "data": figure_data(runs, lambda run: run.n_train, [clock_bound(r, "tau_mem") for r in runs], "tau_mem"),
        },
    )
