"""Figures of a run's ``basins.csv`` for ``clocks report`` (docs/method.md, "Basins").

- ``basin_radius.png``: basin radius of each target class against training step (log x), with
  tau_rule and tau_mem from ``clocks.json`` as vertical lines and each class's reference radii
  (floor, population, memorizer; :mod:`~lightning_clocks.basins.calibration`) as horizontal lines,
  and, beside it, the training class's dominance over its population reference with its interval:
  the claim to check is that control (novel valid) basins expand around tau_rule and training
  basins dominate around tau_mem;
- ``basin_return_rates.png``: the return rate of each class over step x noise level;
- ``denoiser_distances.png`` (DiT): mean squared distance of the learned denoiser to the
  empirical-optimal (training set) and the population (rule) denoisers, per noise level and
  target class: on control targets the model moves from the rule's score toward the training set's;
- ``log_likelihood.png`` (GPT): mean log-likelihood of each class and the training-minus-control gap.

matplotlib is imported on first use (Agg backend), through ``lightning_clocks.report.figures``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lightning_clocks.basins.calibration import REFERENCES, class_series
from lightning_clocks.basins.table import TARGET_CLASSES, read_basins
from lightning_clocks.results import BASINS_FILE, CLOCKS_FILE, read_json

CLASS_COLOURS = {"train": "tab:red", "control": "tab:blue", "invalid": "tab:gray"}
CLASS_LABELS = {"train": "training samples", "control": "control (novel valid)", "invalid": "invalid samples"}
#: Line style of each reference radius (the colour is the class's).
REFERENCE_STYLES = {"floor": ":", "population": "--", "memorizer": "-."}


def plot_basins(run_dir: Path, out_dir: Path, suffix: str = ".png") -> list[Path]:
    """Draw the basin figures of the run in ``run_dir`` into ``out_dir`` (files ending in ``suffix``); ``[]`` when
    it has no basins.csv."""
    path = Path(run_dir) / BASINS_FILE
    if not path.is_file():
        return []
    rows = read_basins(path)
    if not rows:
        return []
    out_dir = Path(out_dir)
    level = "sigma" if rows[0].get("sigma") is not None else "flips"
    clocks = _clocks(Path(run_dir))
    figures = [
        _plot_radius(rows, level, clocks, out_dir / f"basin_radius{suffix}"),
        _plot_return_rates(rows, level, out_dir / f"basin_return_rates{suffix}"),
    ]
    if level == "sigma":
        figures.append(_plot_distances(rows, clocks, out_dir / f"denoiser_distances{suffix}"))
    else:
        figures.append(_plot_log_likelihood(rows, clocks, out_dir / f"log_likelihood{suffix}"))
    return figures


def _clocks(run_dir: Path) -> dict[str, float | None]:
    """tau_rule and tau_mem from ``clocks.json`` (``None`` when absent or never crossed)."""
    path = run_dir / CLOCKS_FILE
    summary = read_json(path) if path.is_file() else {}
    return {name: summary.get(name) for name in ("tau_rule", "tau_mem")}


def _classes(rows: list[dict[str, object]]) -> list[str]:
    present = {row["target_class"] for row in rows}
    return [name for name in TARGET_CLASSES if name in present]


def _steps(rows: list[dict[str, object]]) -> list[int]:
    return sorted({int(row["step"]) for row in rows})


def _mark_clocks(axes: Any, clocks: dict[str, float | None]) -> None:
    """tau_rule and tau_mem as vertical lines, where they crossed."""
    if clocks["tau_rule"] is not None:
        axes.axvline(
            clocks["tau_rule"], color="tab:green", linestyle="--", label=f"tau_rule = {clocks['tau_rule']:.0f}"
        )
    if clocks["tau_mem"] is not None:
        axes.axvline(clocks["tau_mem"], color="tab:red", linestyle="--", label=f"tau_mem = {clocks['tau_mem']:.0f}")


def _plot_radius(rows: list[dict[str, object]], level: str, clocks: dict[str, float | None], path: Path) -> Path:
    """Radius per class with its reference radii; where ``basins.csv`` has dominance, a second panel of it."""
    from lightning_clocks.report.figures import pyplot, save

    plt = pyplot()
    calibrated = any(row.get("dominance") is not None for row in rows)
    figure, all_axes = plt.subplots(
        1, 2 if calibrated else 1, figsize=(12.0 if calibrated else 7.0, 4.0), squeeze=False
    )
    axes = all_axes[0][0]
    steps = _steps(rows)
    for name in _classes(rows):
        radius = {int(row["step"]): row["basin_radius"] for row in rows if row["target_class"] == name}
        values = [math.nan if radius.get(step) is None else float(radius[step]) for step in steps]
        axes.plot(steps, values, marker="o", markersize=4, color=CLASS_COLOURS[name], label=CLASS_LABELS[name])
        for reference in REFERENCES:
            level_value = next(
                (
                    row[f"{reference}_radius"]
                    for row in rows
                    if row["target_class"] == name and row.get(f"{reference}_radius") is not None
                ),
                None,
            )
            if level_value is not None:
                axes.axhline(
                    float(level_value),
                    color=CLASS_COLOURS[name],
                    linestyle=REFERENCE_STYLES[reference],
                    linewidth=1.0,
                    alpha=0.7,
                    label=f"{name}: {reference} = {float(level_value):.2f}",
                )
    _mark_clocks(axes, clocks)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("training step (optimizer steps, log scale)")
    unit = "noise level sigma" if level == "sigma" else "flipped cells"
    axes.set_ylabel(f"basin radius ({unit})")
    axes.set_title("Basin radius per target class, references as horizontal lines", fontsize=10)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=6, loc="upper left", ncol=2)
    if calibrated:
        _plot_dominance(all_axes[0][1], rows, clocks)
    return save(figure, path)


def _plot_dominance(axes: Any, rows: list[dict[str, object]], clocks: dict[str, float | None]) -> None:
    """Training radius minus its population reference against step, with its bootstrap interval."""
    steps, dominance = class_series(rows, "train", "dominance")
    _, low = class_series(rows, "train", "dominance_low")
    _, high = class_series(rows, "train", "dominance_high")
    axes.fill_between(steps, low, high, color=CLASS_COLOURS["train"], alpha=0.2, label="95% bootstrap interval")
    axes.plot(steps, dominance, marker="o", markersize=4, color=CLASS_COLOURS["train"], label="dominance")
    axes.axhline(0.0, color="black", linewidth=0.8)
    _mark_clocks(axes, clocks)
    axes.set_xscale("log")
    axes.set_xlabel("training step (optimizer steps, log scale)")
    axes.set_ylabel("training radius - population radius")
    axes.set_title("Dominance of the training basins over the rule's", fontsize=10)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=7)


def _plot_return_rates(rows: list[dict[str, object]], level: str, path: Path) -> Path:
    from lightning_clocks.report.figures import pyplot, save

    plt = pyplot()
    classes = _classes(rows)
    steps = _steps(rows)
    levels = sorted({float(row[level]) for row in rows})
    figure, all_axes = plt.subplots(1, len(classes), figsize=(4.0 * len(classes), 3.6), squeeze=False)
    image = None
    for axes, name in zip(all_axes[0], classes, strict=True):
        grid = [[math.nan] * len(steps) for _ in levels]
        for row in rows:
            if row["target_class"] == name:
                grid[levels.index(float(row[level]))][steps.index(int(row["step"]))] = float(row["return_rate"])
        image = axes.imshow(grid, origin="lower", aspect="auto", vmin=0.0, vmax=1.0, cmap="viridis")
        axes.set_xticks(range(len(steps)), [str(step) for step in steps], rotation=90, fontsize=7)
        axes.set_yticks(range(len(levels)), [f"{value:g}" for value in levels], fontsize=7)
        axes.set_xlabel("training step")
        axes.set_ylabel("sigma" if level == "sigma" else "flipped cells")
        axes.set_title(CLASS_LABELS[name], fontsize=9)
    figure.colorbar(image, ax=list(all_axes[0]), label="return rate")
    return save(figure, path)


def _plot_distances(rows: list[dict[str, object]], clocks: dict[str, float | None], path: Path) -> Path:
    """One panel per reference denoiser (rows) and target class (columns), one line per sigma."""
    from lightning_clocks.report.figures import pyplot, save

    plt = pyplot()
    references = [
        (column, title)
        for column, title in (
            ("distance_empirical", "to empirical optimum (training set)"),
            ("distance_population", "to population denoiser (rule)"),
        )
        if any(row.get(column) is not None for row in rows)
    ]
    classes = _classes(rows)
    steps = _steps(rows)
    sigmas = sorted({float(row["sigma"]) for row in rows})
    colours = plt.get_cmap("viridis")
    figure, all_axes = plt.subplots(
        len(references),
        len(classes),
        figsize=(4.2 * len(classes), 3.4 * len(references)),
        squeeze=False,
        layout="constrained",
    )
    for axes_row, (column, title) in zip(all_axes, references, strict=True):
        for axes, name in zip(axes_row, classes, strict=True):
            for index, sigma in enumerate(sigmas):
                distance = {
                    int(row["step"]): row[column]
                    for row in rows
                    if row["target_class"] == name and float(row["sigma"]) == sigma
                }
                values = [math.nan if distance.get(step) is None else float(distance[step]) for step in steps]
                colour = colours(index / max(len(sigmas) - 1, 1))
                axes.plot(steps, values, marker=".", color=colour, label=f"sigma = {sigma:g}")
            _mark_clocks(axes, clocks)
            axes.set_xscale("log")
            axes.set_yscale("log")
            axes.set_title(f"{CLASS_LABELS[name]}: {title}", fontsize=8)
            axes.grid(alpha=0.3, which="both")
    for axes in all_axes[-1]:
        axes.set_xlabel("training step (log scale)")
    for axes in all_axes[:, 0]:
        axes.set_ylabel("mean squared distance per cell")
    all_axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save(figure, path)


def _plot_log_likelihood(rows: list[dict[str, object]], clocks: dict[str, float | None], path: Path) -> Path:
    from lightning_clocks.report.figures import pyplot, save

    plt = pyplot()
    steps = _steps(rows)
    per_class = {
        name: {int(row["step"]): float(row["log_likelihood"]) for row in rows if row["target_class"] == name}
        for name in _classes(rows)
    }
    figure, (likelihood_axes, gap_axes) = plt.subplots(1, 2, figsize=(11.0, 4.0))
    for name, values in per_class.items():
        likelihood_axes.plot(
            steps, [values[step] for step in steps], marker=".", color=CLASS_COLOURS[name], label=CLASS_LABELS[name]
        )
    likelihood_axes.set_ylabel("mean log-likelihood (nats per sequence)")
    likelihood_axes.set_title("Log-likelihood per target class", fontsize=9)
    if "train" in per_class and "control" in per_class:
        gap = [per_class["train"][step] - per_class["control"][step] for step in steps]
        gap_axes.plot(steps, gap, marker=".", color="black", label="training - control")
    gap_axes.set_ylabel("log-likelihood gap (nats per sequence)")
    gap_axes.set_title("Training minus control log-likelihood", fontsize=9)
    for axes in (likelihood_axes, gap_axes):
        _mark_clocks(axes, clocks)
        axes.set_xscale("log")
        axes.set_xlabel("training step (optimizer steps, log scale)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    return save(figure, path)
