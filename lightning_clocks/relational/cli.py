"""``clocks ti`` (the exact kernel theory) and ``clocks ti-fit`` (a trained pair model with its clocks).

``clocks ti`` prints per-pair margins and category accuracies of kernel ridge regression on transitive
inference with an exception (docs/method.md, "Transitive inference"), as a table or JSON, and can draw
the phase diagram over (alpha, ridge). It imports numpy only. ``clocks ti-fit`` is the LightningCLI of
:mod:`lightning_clocks.relational.fit`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lightning_clocks.cli import command_parser, namespace_dict, parse_arguments
from lightning_clocks.errors import ConfigError
from lightning_clocks.relational.kernels import check_alpha, check_ridge, kappas_from_alpha
from lightning_clocks.relational.task import (
    NO_GROUND_TRUTH,
    Pair,
    TransitiveTask,
    item_index,
    validate_exception,
)
from lightning_clocks.relational.theory import (
    DEFAULT_ALPHA,
    DEFAULT_RIDGE,
    PairRow,
    category_accuracy,
    pair_table,
    plot_phase_diagram,
)


def parse_exception(text: str) -> Pair | None:
    """Parse ``--exception``: ``"none"``, 0-based indices ``"5,3"``, or 1-based names ``"I6,I4"`` (W first)."""
    if text.strip().lower() == "none":
        return None
    parts = [part.strip() for part in text.split(",")]
    message = f"exception={text!r} is invalid; allowed: 'W,L' (0-based indices, e.g. 5,3), 'I6,I4' (names) or 'none'"
    if len(parts) != 2:
        raise ConfigError(message)
    if all(part[:1] in "Ii" for part in parts):
        return (item_index(parts[0]), item_index(parts[1]))
    try:
        return (int(parts[0]), int(parts[1]))
    except ValueError:
        raise ConfigError(message) from None


def ridge_grid_values(grid: tuple[float, float, int]) -> np.ndarray:
    """``(MIN, MAX, COUNT)`` as ``COUNT`` log-spaced ridges (``0 < MIN < MAX``, ``COUNT >= 2``)."""
    low, high, count = grid
    if not (0 < low < high and count >= 2):
        raise ConfigError(
            f"ridge_grid={list(grid)} is invalid; allowed: [MIN, MAX, COUNT] with 0 < MIN < MAX, COUNT >= 2"
        )
    return np.logspace(np.log10(low), np.log10(high), count)


def task_of(variant: str | None, num_items: int | None, exception: str | None) -> TransitiveTask:
    """The task named by ``variant``, or built from ``num_items`` / ``exception`` (default: variant mid)."""
    if variant is not None:
        if num_items is not None or exception is not None:
            raise ConfigError(
                f"variant={variant!r} cannot be combined with num_items or exception; give one or the other"
            )
        return TransitiveTask.from_variant(variant)
    if num_items is None and exception is None:
        return TransitiveTask.from_variant("mid")
    num_items = 9 if num_items is None else num_items
    pair = None if exception is None else parse_exception(exception)
    return TransitiveTask(num_items=num_items, exception=validate_exception(num_items, pair))


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


def kernel_report(task: TransitiveTask, alpha: float, kappa_d: float, ridge: float) -> dict[str, Any]:
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


def kernel_theory(
    variant: str | None = None,
    num_items: int | None = None,
    exception: str | None = None,
    alpha: float = DEFAULT_ALPHA,
    kappa_d: float = 0.0,
    ridge: float = DEFAULT_RIDGE,
    all_orders: bool = False,
    output: Literal["table", "json"] = "table",
    phase_diagram: Path | None = None,
    alpha_grid: int = 101,
    ridge_grid: tuple[float, float, int] = (1e-4, 1e2, 31),
) -> dict[str, Any]:
    """Exact kernel ridge regression on transitive inference with an exception: per-pair margins and category
    accuracies. Items are 0-based indices; names I1..In are 1-based.

    Args:
        variant: a named task: none, mid (9 items, I6 beats I4; the default without num_items and exception),
            n11_mid (11 items, I7 beats I5) or far (11 items, I8 beats I4).
        num_items: number of items (without variant; default 9).
        exception: W,L where W (ranked below) beats L: 0-based indices '5,3', names 'I6,I4', or 'none'.
        alpha: conjunctivity in [0, 1].
        kappa_d: kernel value of pairs sharing no slot.
        ridge: ridge (weight decay) >= 0.
        all_orders: list both orders of every pair in the table.
        output: print a table, or JSON with all ordered pairs.
        phase_diagram: also draw category accuracy over (alpha, ridge) into this PNG file.
        alpha_grid: number of alphas in [0, 1] for the phase diagram.
        ridge_grid: phase-diagram ridges [MIN, MAX, COUNT], log-spaced.
    """
    task = task_of(variant, num_items, exception)
    alpha, ridge = check_alpha(alpha), check_ridge(ridge)
    result = kernel_report(task, alpha, kappa_d, ridge)
    if phase_diagram is not None:
        if alpha_grid < 2:
            raise ConfigError(f"alpha_grid={alpha_grid} is invalid; allowed: at least 2")
        alphas = np.linspace(0.0, 1.0, alpha_grid)
        path = plot_phase_diagram(task, alphas, ridge_grid_values(ridge_grid), phase_diagram, kappa_d=kappa_d)
        result["phase_diagram"] = str(path)
    if output == "json":
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{task.describe()}; alpha={alpha} (kappa_o={result['kappa_o']:.4g}, kappa_d={result['kappa_d']:.4g}), "
            f"ridge={ridge}"
        )
        table = [{**row, "pair": tuple(row["pair"])} for row in result["pairs"]]
        print(format_table(table, result["accuracy"], all_orders=all_orders))
        if "phase_diagram" in result:
            print(f"\nphase diagram written to {result['phase_diagram']}")
    return result


def theory(argv: Sequence[str]) -> int:
    """``clocks ti``: print per-pair margins and category accuracies; optionally draw the phase diagram."""
    parser = command_parser("clocks ti", (kernel_theory.__doc__ or "").split("\n\n")[0])
    parser.add_function_arguments(kernel_theory)
    kernel_theory(**namespace_dict(parse_arguments(parser, argv)))
    return 0


def fit(argv: Sequence[str]) -> int:
    """``clocks ti-fit``: train a pair model on transitive inference and measure its clocks."""
    from lightning_clocks.relational.fit import fit_pairs

    fit_pairs(argv)
    return 0
