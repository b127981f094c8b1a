"""Basin radii read against reference levels, and the claim C7 decision (docs/method.md, "Basins").

A learned basin radius means little alone: an untrained network already returns targets from small
noise, and a perfect rule learner gives training samples a radius near 1. So every basin measurement
of a DiT is set beside three references, measured by the same probe on the same targets and noise:

- ``floor``: the untrained adaLN-Zero network (F = 0, so D = c_skip x); for ``sign`` cells a target
  returns exactly when every cell keeps its sign, probability ``Phi(1/sigma)^L``
  (:func:`floor_radius_closed_form`);
- ``population``: the rule's exact population denoiser, a perfect rule learner;
- ``memorizer``: the empirical optimum over the training set, a perfect memorizer (it returns no
  control or invalid target, so those classes have no memorizer radius).

Two derived quantities: **expansion** = ``(r - r_floor) / (r_population - r_floor)``, the share of the
floor-to-population gap a class has closed; **dominance** = training radius minus its population
reference, with a paired bootstrap interval over the training targets (:func:`dominance_interval`).

:func:`c7_verdict` decides claim C7 from run folders with the rule written in docs/method.md
("Claim C7 decision rule"); its numbers are the constants below. Everything here is plain Python and
numpy (no torch, no Lightning), so ``clocks claims`` and ``clocks report`` can use it cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from lightning_clocks.clocks import first_crossing
from lightning_clocks.results import BASINS_FILE, CLOCKS_FILE, read_json

#: The reference denoisers, in the order of their ``<name>_radius`` columns.
REFERENCES = ("floor", "population", "memorizer")
#: Bootstrap resamples of the dominance interval, and its confidence level.
BOOTSTRAP_RESAMPLES = 1000
DOMINANCE_CONFIDENCE = 0.95

# ----------------------------------------------------------------------------- claim C7 decision rule
#: Share of the floor-to-population gap the control class must close (its expansion step is the first crossing).
C7_EXPANSION_SHARE = 0.5
#: Largest distance, in decades of step, of the control expansion step from tau_rule.
C7_RULE_TOLERANCE = 0.2
#: Largest distance, in decades of step, of the dominance onset from tau_mem.
C7_MEM_TOLERANCE = 0.3
#: Fewest seeds (run folders) for a decision.
C7_MIN_SEEDS = 2
#: Fewest basin evaluations inside [tau_rule, tau_mem] per seed for a decision.
C7_MIN_WINDOW_EVALUATIONS = 5
#: The verdicts :func:`c7_verdict` can give.
C7_VERDICTS = ("reproduced", "not reproduced", "contradicted", "inconclusive")


# ----------------------------------------------------------------------------- radii
def basin_radius(levels: Sequence[float], rates: Sequence[float], threshold: float = 0.5) -> float | None:
    """Largest noise level whose return rate is >= ``threshold``, interpolated in log level towards the next one.

    ``None`` when no level reaches the threshold; the largest level when the largest still does.
    """
    pairs = sorted(zip(levels, rates, strict=True))
    above = [index for index, (_, rate) in enumerate(pairs) if rate >= threshold]
    if not above:
        return None
    last = above[-1]
    if last == len(pairs) - 1:
        return float(pairs[last][0])
    (level_in, rate_in), (level_out, rate_out) = pairs[last], pairs[last + 1]
    fraction = (rate_in - threshold) / (rate_in - rate_out)
    return float(math.exp(math.log(level_in) + fraction * (math.log(level_out) - math.log(level_in))))


def floor_return_probability(sigma: float, length: int) -> float:
    """Probability that a ``sign``-encoded target of ``length`` cells returns at the floor: ``Phi(1/sigma)^L``."""
    return NormalDist().cdf(1.0 / sigma) ** length


def floor_radius_closed_form(length: int, threshold: float = 0.5) -> float:
    """The sigma at which the floor's return probability ``Phi(1/sigma)^L`` equals ``threshold``."""
    return 1.0 / NormalDist().inv_cdf(threshold ** (1.0 / length))


def expansion(radius: float | None, floor: float | None, population: float | None) -> float | None:
    """Share of the floor-to-population gap closed, ``(r - r_floor) / (r_population - r_floor)``.

    ``None`` where a radius is missing or the gap is zero.
    """
    if radius is None or floor is None or population is None or population == floor:
        return None
    return (radius - floor) / (population - floor)


def dominance_interval(
    levels: Sequence[float],
    learned: np.ndarray,
    population: np.ndarray,
    threshold: float = 0.5,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = DOMINANCE_CONFIDENCE,
) -> tuple[float | None, float | None, float | None]:
    """Training radius minus its population reference, with a paired bootstrap interval over the targets.

    ``learned`` and ``population`` are the return outcomes ``[levels, targets]`` (bool) of the same
    training targets under the learned and the population denoiser. Each resample draws the targets
    with replacement (the same draw for both, from ``numpy.random.default_rng(seed)``) and takes the
    difference of the two radii; a resample in which a class has no radius on the grid counts that
    radius as 0. Returns ``(dominance, low, high)``, the percentile interval at ``confidence``;
    all ``None`` when either point radius is missing.
    """
    learned, population = np.asarray(learned, dtype=bool), np.asarray(population, dtype=bool)
    point_learned = basin_radius(levels, learned.mean(axis=1).tolist(), threshold)
    point_population = basin_radius(levels, population.mean(axis=1).tolist(), threshold)
    if point_learned is None or point_population is None:
        return None, None, None
    draws = np.random.default_rng(seed).integers(learned.shape[1], size=(resamples, learned.shape[1]))
    learned_rates, population_rates = learned[:, draws].mean(axis=2), population[:, draws].mean(axis=2)
    differences = [
        (basin_radius(levels, learned_rates[:, index].tolist(), threshold) or 0.0)
        - (basin_radius(levels, population_rates[:, index].tolist(), threshold) or 0.0)
        for index in range(resamples)
    ]
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1.0 - tail])
    return point_learned - point_population, float(low), float(high)


def calibration_columns(
    levels: Sequence[float],
    learned: Mapping[str, np.ndarray],
    references: Mapping[str, Mapping[str, np.ndarray]],
    threshold: float = 0.5,
    seed: int = 0,
) -> dict[str, dict[str, float | None]]:
    """The reference columns of every class of one evaluation (``basins.csv``; docs/method.md, "Basins").

    ``learned[class]`` and ``references[reference][class]`` are return outcomes ``[levels, targets]``
    on the same targets and noise. Per class: ``floor_radius``, ``population_radius``,
    ``memorizer_radius`` (``None`` where the reference has no basin on the grid, or is not given),
    ``expansion``; for the ``train`` class also ``dominance``, ``dominance_low``, ``dominance_high``.
    """
    columns: dict[str, dict[str, float | None]] = {}
    for name, outcomes in learned.items():
        radius = basin_radius(levels, np.asarray(outcomes, dtype=float).mean(axis=1).tolist(), threshold)
        row: dict[str, float | None] = {}
        for reference in REFERENCES:
            reference_outcomes = references.get(reference, {}).get(name)
            row[f"{reference}_radius"] = (
                None
                if reference_outcomes is None
                else basin_radius(levels, np.asarray(reference_outcomes, dtype=float).mean(axis=1).tolist(), threshold)
            )
        row["expansion"] = expansion(radius, row["floor_radius"], row["population_radius"])
        population = references.get("population", {}).get(name)
        if name == "train" and population is not None:
            dominance, low, high = dominance_interval(levels, outcomes, population, threshold, seed)
            row.update(dominance=dominance, dominance_low=low, dominance_high=high)
        columns[name] = row
    return columns


# ----------------------------------------------------------------------------- reading runs
def class_series(rows: Sequence[Mapping[str, object]], name: str, column: str) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of a per-class ``column`` of ``basins.csv`` rows, one per evaluation, skipping empties."""
    series: dict[int, float] = {}
    for row in rows:
        if row["target_class"] == name and row.get(column) is not None:
            series[int(row["step"])] = float(row[column])  # type: ignore[arg-type]
    steps = sorted(series)
    return steps, [series[step] for step in steps]


def expansion_step(rows: Sequence[Mapping[str, object]], share: float = C7_EXPANSION_SHARE) -> float | None:
    """First step at which the control class's expansion reaches ``share``, interpolated in log10(step)."""
    steps, values = class_series(rows, "control", "expansion")
    return first_crossing(steps, values, share) if steps else None


def dominance_onset(rows: Sequence[Mapping[str, object]]) -> int | None:
    """First basin evaluation at which the training radius exceeds its population reference beyond its interval
    (``dominance_low > 0``); not interpolated, so its resolution is the basin schedule's spacing."""
    steps, lows = class_series(rows, "train", "dominance_low")
    return next((step for step, low in zip(steps, lows, strict=True) if low > 0), None)


def _decades(step: float | None, clock: float | None) -> float | None:
    """``log10(step / clock)``, ``None`` where either is missing."""
    return None if step is None or clock is None else math.log10(step / clock)


def c7_seed(run_dir: Path) -> dict[str, Any]:
    """One seed's C7 measurement and status (``pass``, ``fail``, ``contradicted`` or ``inconclusive``) with its
    reason; the rule is in docs/method.md, "Claim C7 decision rule"."""
    from lightning_clocks.basins.table import read_basins

    run_dir = Path(run_dir)
    detail: dict[str, Any] = {"run": str(run_dir)}
    if not (run_dir / CLOCKS_FILE).is_file() or not (run_dir / BASINS_FILE).is_file():
        return {**detail, "status": "inconclusive", "reason": f"{run_dir} has no {CLOCKS_FILE} or no {BASINS_FILE}"}
    summary = read_json(run_dir / CLOCKS_FILE)
    rows = read_basins(run_dir / BASINS_FILE)
    tau_rule, tau_mem = summary.get("tau_rule"), summary.get("tau_mem")
    steps = sorted({int(row["step"]) for row in rows})  # type: ignore[arg-type]
    in_window = [step for step in steps if tau_rule is not None and tau_mem is not None and tau_rule <= step <= tau_mem]
    expanded, onset = expansion_step(rows), dominance_onset(rows)
    detail.update(
        seed=summary.get("seed"),
        tau_rule=tau_rule,
        tau_mem=tau_mem,
        basin_evaluations_in_window=len(in_window),
        last_basin_step=steps[-1] if steps else None,
        expansion_step=expanded,
        expansion_offset_decades=_decades(expanded, tau_rule),
        dominance_onset=onset,
        dominance_offset_decades=_decades(onset, tau_mem),
    )

    def verdict(status: str, reason: str) -> dict[str, Any]:
        return {**detail, "status": status, "reason": reason}

    if not any(row.get("population_radius") is not None for row in rows):
        return verdict("inconclusive", "basins.csv has no population reference radii")
    if tau_rule is None or tau_mem is None:
        return verdict("inconclusive", f"a clock is censored (tau_rule {tau_rule}, tau_mem {tau_mem})")
    if tau_rule >= tau_mem:
        return verdict("inconclusive", f"no innovation window (tau_rule {tau_rule:.0f} >= tau_mem {tau_mem:.0f})")
    if len(in_window) < C7_MIN_WINDOW_EVALUATIONS:
        return verdict(
            "inconclusive", f"{len(in_window)} basin evaluations in the window, fewer than {C7_MIN_WINDOW_EVALUATIONS}"
        )
    if onset is not None and onset < tau_rule:
        return verdict("contradicted", f"training basins dominate at step {onset}, before tau_rule {tau_rule:.0f}")
    if expanded is not None and expanded >= tau_mem:
        return verdict("contradicted", f"control basins expand at step {expanded:.0f}, after tau_mem {tau_mem:.0f}")
    last = steps[-1]
    if expanded is None and last < tau_rule * 10**C7_RULE_TOLERANCE:
        return verdict("inconclusive", f"the basins end at step {last} before control expansion could be seen")
    if onset is None and last < tau_mem * 10**C7_MEM_TOLERANCE:
        return verdict("inconclusive", f"the basins end at step {last} before dominance onset could be seen")
    failures = []
    if expanded is None:
        failures.append(f"control expansion never reaches {C7_EXPANSION_SHARE} of the gap")
    elif abs(detail["expansion_offset_decades"]) > C7_RULE_TOLERANCE:
        failures.append(f"control expansion {detail['expansion_offset_decades']:+.2f} decades from tau_rule")
    if onset is None:
        failures.append("no dominance onset")
    elif abs(detail["dominance_offset_decades"]) > C7_MEM_TOLERANCE:
        failures.append(f"dominance onset {detail['dominance_offset_decades']:+.2f} decades from tau_mem")
    if failures:
        return verdict("fail", "; ".join(failures))
    return verdict("pass", "control expansion near tau_rule and dominance onset near tau_mem")


def c7_verdict(run_dirs: Sequence[Path]) -> dict[str, Any]:
    """Claim C7 over run folders (one per seed): basins of held-out valid samples expand near tau_rule, those of
    training samples dominate near tau_mem (docs/method.md, "Claim C7 decision rule").

    Returns ``verdict`` (one of :data:`C7_VERDICTS`), ``reason``, ``value`` (mean over seeds of the dominance
    onset's offset from tau_mem, in decades), ``low`` and ``high`` (its range over seeds; ``None`` without an
    onset) and ``details`` (one dict per seed from :func:`c7_seed`).
    """
    details = [c7_seed(Path(run_dir)) for run_dir in run_dirs]
    offsets = [
        detail["dominance_offset_decades"] for detail in details if detail.get("dominance_offset_decades") is not None
    ]
    result: dict[str, Any] = {
        "value": float(np.mean(offsets)) if offsets else None,
        "low": min(offsets) if offsets else None,
        "high": max(offsets) if offsets else None,
        "details": details,
    }

    def by_status(status: str) -> list[str]:
        return [f"{detail['run']}: {detail['reason']}" for detail in details if detail["status"] == status]

    if len(details) < C7_MIN_SEEDS:
        return {"verdict": "inconclusive", "reason": f"{len(details)} seed(s), fewer than {C7_MIN_SEEDS}", **result}
    if by_status("inconclusive"):
        return {"verdict": "inconclusive", "reason": "; ".join(by_status("inconclusive")), **result}
    if by_status("contradicted"):
        return {"verdict": "contradicted", "reason": "; ".join(by_status("contradicted")), **result}
    if by_status("fail"):
        return {"verdict": "not reproduced", "reason": "; ".join(by_status("fail")), **result}
    return {"verdict": "reproduced", "reason": f"every seed of {len(details)}: {details[0]['reason']}", **result}
