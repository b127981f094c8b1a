"""Kernel theory of transitive inference with an exception: per-pair outputs, category accuracies, phase diagram.

Everything here is exact linear algebra on the task of :mod:`lightning_clocks.relational.task` with the
kernels of :mod:`lightning_clocks.relational.kernels` (read their docstrings for the conventions). A pair
is *correct* when its margin ``f(i, j) * label`` is strictly positive: "I_a vs I_b is right" means the
model says the higher-ranked item wins, except for the exception pair, where it must say the exception's
winner wins. A margin within :data:`TIE_TOLERANCE` of zero is a tie (rounding noise of an exact zero)
and counts as wrong.

The ``clocks ti`` command (:mod:`lightning_clocks.relational.cli`) prints these tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lightning_clocks.errors import ConfigError
from lightning_clocks.relational.kernels import (
    PairKernel,
    check_alpha,
    check_ridge,
    family_pair_kernel,
    gradient_flow_predict,
    ridge_predict,
)
from lightning_clocks.relational.task import (
    CATEGORIES,
    Pair,
    TransitiveTask,
    pair_name,
)

PairRow = dict[str, Any]

#: Margins with ``|margin| <= TIE_TOLERANCE`` are ties: round-off of an exact zero, never "right".
TIE_TOLERANCE = 1e-9
DEFAULT_ALPHA = 0.1
DEFAULT_RIDGE = 1e-3


# --------------------------------------------------------------------------------------------- outputs


def is_right(margin: float) -> bool:
    """Whether a margin ``f * label`` says the model answers right (positive beyond :data:`TIE_TOLERANCE`)."""
    return margin > TIE_TOLERANCE


def kernel_outputs(task: TransitiveTask, kernel: PairKernel, ridge: float, pairs: Sequence[Pair]) -> np.ndarray:
    """Kernel ridge outputs ``f(pair)`` for ``pairs``, trained on the task's training pairs."""
    training = task.training_pairs()
    return ridge_predict(kernel(training, training), kernel(pairs, training), task.training_labels(), ridge)


def kernel_trajectory(
    task: TransitiveTask, kernel: PairKernel, ridge: float, times: Sequence[float], pairs: Sequence[Pair]
) -> np.ndarray:
    """Exact gradient-flow outputs ``[len(times), len(pairs)]`` from ``f = 0`` (see ``kernels`` for the loss)."""
    training = task.training_pairs()
    return gradient_flow_predict(
        kernel(training, training), kernel(pairs, training), task.training_labels(), ridge, times
    )


def pair_trajectory(
    task: TransitiveTask, alpha: float, ridge: float, times: Sequence[float], *, kappa_d: float = 0.0
) -> np.ndarray:
    """Gradient-flow outputs of the family kernel for every ordered pair: ``[len(times), len(task.all_pairs())]``."""
    return kernel_trajectory(task, family_pair_kernel(alpha, kappa_d), ridge, times, task.all_pairs())


def table_from_outputs(task: TransitiveTask, pairs: Sequence[Pair], outputs: np.ndarray) -> list[PairRow]:
    """One row per pair: pair, name, category, exception flag, label, output, margin and correctness.

    ``label``, ``margin`` and ``correct`` are ``None`` for pairs without ground truth.
    """
    rows: list[PairRow] = []
    for pair, output in zip(pairs, np.asarray(outputs, dtype=np.float64), strict=True):
        label = task.label(pair)
        margin = None if label is None else float(output) * label
        rows.append(
            {
                "pair": pair,
                "name": pair_name(pair),
                "category": task.category(pair),
                "exception": task.is_exception(pair),
                "label": label,
                "output": float(output),
                "margin": margin,
                "correct": None if margin is None else is_right(margin),
            }
        )
    return rows


def pair_table_for_kernel(task: TransitiveTask, kernel: PairKernel, ridge: float) -> list[PairRow]:
    """The :func:`table_from_outputs` rows of every ordered pair for any pair kernel (e.g. a user feature map)."""
    pairs = task.all_pairs()
    return table_from_outputs(task, pairs, kernel_outputs(task, kernel, ridge, pairs))


def pair_table(task: TransitiveTask, alpha: float, ridge: float, *, kappa_d: float = 0.0) -> list[PairRow]:
    """The rows of every ordered pair for the family kernel with conjunctivity ``alpha`` and ridge ``ridge``."""
    return pair_table_for_kernel(task, family_pair_kernel(alpha, kappa_d), ridge)


def category_accuracy(table: Sequence[PairRow]) -> dict[str, float]:
    """Fraction of correct pairs per category, over pairs with ground truth (categories without any are left out)."""
    accuracy: dict[str, float] = {}
    for category in CATEGORIES:
        verdicts = [row["correct"] for row in table if row["category"] == category and row["correct"] is not None]
        if verdicts:
            accuracy[category] = sum(verdicts) / len(verdicts)
    return accuracy


def pair_margin(task: TransitiveTask, pair: Pair, alpha: float, ridge: float, *, kappa_d: float = 0.0) -> float:
    """The margin ``f(pair) * label`` of one pair with ground truth under the family kernel."""
    label = task.label(pair)
    if label is None:
        raise ConfigError(f"pair={pair!r} ({pair_name(pair)}) has no ground truth, so it has no margin")
    output = kernel_outputs(task, family_pair_kernel(alpha, kappa_d), ridge, [pair])[0]
    return float(output) * label


def flip_alpha(
    task: TransitiveTask,
    pair: Pair,
    ridge: float,
    *,
    kappa_d: float = 0.0,
    low: float = 0.0,
    high: float = 1.0,
    tolerance: float = 1e-7,
) -> float | None:
    """The conjunctivity in ``[low, high]`` at which ``pair`` turns from right to wrong or back (bisection).

    Returns ``None`` when the pair is right at both ends or wrong at both ends (no crossing to find).
    """
    margin_low = pair_margin(task, pair, low, ridge, kappa_d=kappa_d)
    margin_high = pair_margin(task, pair, high, ridge, kappa_d=kappa_d)
    if is_right(margin_low) == is_right(margin_high):
        return None
    while high - low > tolerance:
        middle = (low + high) / 2.0
        if is_right(pair_margin(task, pair, middle, ridge, kappa_d=kappa_d)) == is_right(margin_low):
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


# --------------------------------------------------------------------------------------------- phase diagram


def phase_diagram(
    task: TransitiveTask, alphas: Sequence[float], ridges: Sequence[float], *, kappa_d: float = 0.0
) -> np.ndarray:
    """Category accuracies over a grid: ``[len(alphas), len(ridges), len(CATEGORIES)]``, NaN where a category is empty.

    The last axis follows :data:`~lightning_clocks.relational.task.CATEGORIES`; ``no-ground-truth`` is
    always NaN.
    """
    alphas = [check_alpha(alpha) for alpha in alphas]
    ridges = [check_ridge(ridge) for ridge in ridges]
    diagram = np.full((len(alphas), len(ridges), len(CATEGORIES)), np.nan)
    for a, alpha in enumerate(alphas):
        kernel = family_pair_kernel(alpha, kappa_d)
        for r, ridge in enumerate(ridges):
            accuracy = category_accuracy(pair_table_for_kernel(task, kernel, ridge))
            for c, category in enumerate(CATEGORIES):
                diagram[a, r, c] = accuracy.get(category, np.nan)
    return diagram


def plot_phase_diagram(
    task: TransitiveTask,
    alphas: Sequence[float],
    ridges: Sequence[float],
    path: str | Path,
    *,
    kappa_d: float = 0.0,
) -> Path:
    """Draw one accuracy heat map per category (alpha across, log ridge up) into a PNG; return its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    alphas = np.asarray(alphas, dtype=np.float64)
    ridges = np.asarray(ridges, dtype=np.float64)
    if alphas.size < 2 or ridges.size < 2 or np.any(ridges <= 0):
        raise ConfigError("phase diagram grid: need at least 2 alphas and at least 2 ridges, all ridges > 0 (log axis)")
    diagram = phase_diagram(task, alphas, ridges, kappa_d=kappa_d)
    shown = [c for c, category in enumerate(CATEGORIES) if not np.all(np.isnan(diagram[:, :, c]))]
    figure = Figure(figsize=(4.0 * len(shown), 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(shown), squeeze=False)[0]
    image = None
    for axis, c in zip(axes, shown, strict=True):
        image = axis.pcolormesh(
            alphas, ridges, diagram[:, :, c].T, vmin=0.0, vmax=1.0, cmap="viridis", shading="nearest"
        )
        axis.set_yscale("log")
        axis.set_xlabel("conjunctivity alpha")
        axis.set_title(CATEGORIES[c])
    axes[0].set_ylabel("ridge")
    figure.colorbar(image, ax=list(axes), label="accuracy")
    figure.suptitle(f"Kernel ridge, {task.describe()}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path
