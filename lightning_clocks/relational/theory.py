"""Kernel theory of transitive inference with an exception: per-pair outputs, category accuracies, phase diagram.

Everything here is exact linear algebra on the task of :mod:`lightning_clocks.relational.task` with the
kernels of :mod:`lightning_clocks.relational.kernels` (read their docstrings for the conventions). A pair
is *correct* when its margin ``f(i, j) * label`` is strictly positive: "I_a vs I_b is right" means the
model says the higher-ranked item wins, except for the exception pair, where it must say the exception's
winner wins. A margin within :data:`TIE_TOLERANCE` of zero is a tie (rounding noise of an exact zero)
and counts as wrong.

:func:`main` is the ``clocks ti`` command.
"""

from __future__ import annotations

import argparse
import json
import sys
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
    kappas_from_alpha,
    ridge_predict,
)
from lightning_clocks.relational.task import (
    CATEGORIES,
    NO_GROUND_TRUTH,
    VARIANTS,
    Pair,
    TransitiveTask,
    item_index,
    pair_name,
    validate_exception,
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


# --------------------------------------------------------------------------------------------- command line


def parse_exception(text: str) -> Pair | None:
    """Parse ``--exception``: ``"none"``, 0-based indices ``"5,3"``, or 1-based names ``"I6,I4"`` (W first)."""
    if text.strip().lower() == "none":
        return None
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2:
        raise ConfigError(f"--exception={text!r} must be 'W,L' (0-based indices, e.g. 5,3), 'I6,I4' (names) or 'none'")
    if all(part[:1] in "Ii" for part in parts):
        return (item_index(parts[0]), item_index(parts[1]))
    try:
        return (int(parts[0]), int(parts[1]))
    except ValueError:
        raise ConfigError(
            f"--exception={text!r} must be 'W,L' (0-based indices, e.g. 5,3), 'I6,I4' (names) or 'none'"
        ) from None


def parse_ridge_grid(text: str) -> np.ndarray:
    """Parse ``--ridge-grid MIN,MAX,COUNT`` into ``COUNT`` log-spaced ridges (``0 < MIN < MAX``, ``COUNT >= 2``)."""
    try:
        low_text, high_text, count_text = (part.strip() for part in text.split(","))
        low, high, count = float(low_text), float(high_text), int(count_text)
    except ValueError:
        raise ConfigError(f"--ridge-grid={text!r} must be MIN,MAX,COUNT, e.g. 1e-4,1e2,31") from None
    if not (0 < low < high and count >= 2):
        raise ConfigError(f"--ridge-grid={text!r}: need 0 < MIN < MAX and COUNT >= 2")
    return np.logspace(np.log10(low), np.log10(high), count)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``clocks ti``."""
    parser = argparse.ArgumentParser(
        prog="clocks ti",
        description="Exact kernel ridge regression on transitive inference with an exception (SPEC §4): "
        "per-pair margins and category accuracies. Items are 0-based indices; names I1..In are 1-based.",
    )
    parser.add_argument(
        "--variant", choices=sorted(VARIANTS), help="a named task (default: mid = 9 items, I6 beats I4)"
    )
    parser.add_argument("--num-items", type=int, help="number of items (without --variant; default 9)")
    parser.add_argument(
        "--exception",
        help="exception W,L where W (ranked below) beats L: 0-based indices '5,3', names 'I6,I4', or 'none' "
        "(default with --num-items: none)",
    )
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="conjunctivity in [0, 1] (default 0.1)")
    parser.add_argument("--kappa-d", type=float, default=0.0, help="kernel value of pairs sharing no slot (default 0)")
    parser.add_argument("--ridge", type=float, default=DEFAULT_RIDGE, help="ridge / weight decay >= 0 (default 1e-3)")
    parser.add_argument("--all-orders", action="store_true", help="list both orders of every pair in the table")
    parser.add_argument("--json", action="store_true", help="print JSON (all ordered pairs) instead of a table")
    parser.add_argument("--phase-diagram", metavar="PATH.png", help="also draw category accuracy over (alpha, ridge)")
    parser.add_argument("--alpha-grid", type=int, default=101, help="number of alphas in [0, 1] for the phase diagram")
    parser.add_argument("--ridge-grid", default="1e-4,1e2,31", help="phase-diagram ridges MIN,MAX,COUNT (log-spaced)")
    return parser


def task_from_args(args: argparse.Namespace) -> TransitiveTask:
    """The task named by ``--variant``, or built from ``--num-items`` / ``--exception`` (default: variant mid)."""
    if args.variant is not None:
        if args.num_items is not None or args.exception is not None:
            raise ConfigError(f"--variant={args.variant!r} cannot be combined with --num-items or --exception")
        return TransitiveTask.from_variant(args.variant)
    if args.num_items is None and args.exception is None:
        return TransitiveTask.from_variant("mid")
    num_items = 9 if args.num_items is None else args.num_items
    exception = None if args.exception is None else parse_exception(args.exception)
    return TransitiveTask(num_items=num_items, exception=validate_exception(num_items, exception))


def format_table(table: Sequence[PairRow], accuracy: dict[str, float], *, all_orders: bool) -> str:
    """Plain-text table of per-pair outputs and margins, then the category accuracies."""
    lines = [f"{'pair':<12}{'indices':<10}{'category':<17}{'label':>6}{'output':>10}{'margin':>10}  correct"]
    for row in table:
        i, j = row["pair"]
        if not all_orders and i > j:
            continue
        label = "-" if row["label"] is None else f"{row['label']:+.0f}"
        margin = "-" if row["margin"] is None else f"{row['margin']:.4f}"
        correct = "-" if row["correct"] is None else ("yes" if row["correct"] else "NO")
        category = row["category"] + ("*" if row["exception"] else "")
        lines.append(
            f"{row['name']:<12}{f'({i},{j})':<10}{category:<17}{label:>6}{row['output']:>10.4f}{margin:>10}  {correct}"
        )
    lines += ["", "* the exception pair", "", f"{'category':<17}{'accuracy':>9}  pairs"]
    for category, value in accuracy.items():
        count = sum(1 for row in table if row["category"] == category)
        lines.append(f"{category:<17}{value:>9.3f}  {count}")
    undetermined = sum(1 for row in table if row["category"] == NO_GROUND_TRUTH)
    if undetermined:
        lines.append(f"{NO_GROUND_TRUTH:<17}{'-':>9}  {undetermined}")
    return "\n".join(lines)


def report(task: TransitiveTask, alpha: float, kappa_d: float, ridge: float) -> dict[str, Any]:
    """Everything ``clocks ti`` prints, as JSON-ready data."""
    kappa_o, kappa_d = kappas_from_alpha(alpha, kappa_d)
    table = pair_table(task, alpha, ridge, kappa_d=kappa_d)
    return {
        "task": {
            "num_items": task.num_items,
            "exception": None if task.exception is None else list(task.exception),
            "description": task.describe(),
        },
        "alpha": alpha,
        "kappa_o": kappa_o,
        "kappa_d": kappa_d,
        "ridge": ridge,
        "pairs": [{**row, "pair": list(row["pair"])} for row in table],
        "accuracy": category_accuracy(table),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``clocks ti``: print per-pair margins and category accuracies (table or ``--json``); optionally plot."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        task = task_from_args(args)
        alpha, ridge = check_alpha(args.alpha), check_ridge(args.ridge)
        result = report(task, alpha, args.kappa_d, ridge)
        if args.phase_diagram is not None:
            if args.alpha_grid < 2:
                raise ConfigError(f"--alpha-grid={args.alpha_grid} must be at least 2")
            alphas = np.linspace(0.0, 1.0, args.alpha_grid)
            path = plot_phase_diagram(
                task, alphas, parse_ridge_grid(args.ridge_grid), args.phase_diagram, kappa_d=args.kappa_d
            )
            result["phase_diagram"] = str(path)
    except ConfigError as error:
        parser.error(str(error))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{task.describe()}; alpha={alpha} (kappa_o={result['kappa_o']:.4g}, kappa_d={result['kappa_d']:.4g}), "
            f"ridge={ridge}"
        )
        table = [{**row, "pair": tuple(row["pair"])} for row in result["pairs"]]
        print(format_table(table, result["accuracy"], all_orders=args.all_orders))
        if "phase_diagram" in result:
            print(f"\nphase diagram written to {result['phase_diagram']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
