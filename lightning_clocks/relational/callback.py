"""PairClockCallback: P(correct) of every ordered pair on a schedule, category accuracies, and the two clocks.

The transitive-inference clock callback. It shares with the generative models' ``ClockCallback`` (through
:class:`~lightning_clocks.callbacks.CurveClockCallback`) the schedule, logging (``clocks/<metric>`` against
``clocks/step``), W&B summary, result writing and checkpoint state, and crosses its own columns. At each
scheduled step it scores every ordered pair with the module in eval mode and records one row of
``curves.csv``:

- ``p_correct/I3_vs_I6``: P(correct) of each ordered pair with ground truth (the probability the model gives
  to the right answer; pairs without ground truth have no column);
- ``accuracy/<category>`` and ``p_correct/<category>``: the fraction of pairs answered right (P(correct) > 1/2,
  i.e. a positive margin) and the mean P(correct), per category that has pairs with ground truth;
- ``rule_accuracy``: the lower of the within-section and cross-section accuracies (those of the two that
  have pairs), the held-out transfer of the order;
- ``train_loss``: the model's loss on all training pairs.

Clocks (:func:`lightning_clocks.clocks.measure_clocks` on the named columns, crossings interpolated in
log10 step; ``clocks.json`` records the two column names):
``tau_rule`` is the first step at which ``rule_accuracy`` reaches ``rule_threshold`` and ``tau_mem`` the
first step at which ``accuracy/cycle`` reaches ``mem_threshold``. Both thresholds default to 1.0: the rule
is learned when every held-out within- and cross-section pair is right, the exception memorized when every
cycle member (the exception and the adjacent pairs it closes a cycle with, both orders) is right; a
threshold of 1 makes each clock the step of the first evaluation that satisfies it. Without an exception
there is no cycle and ``tau_mem`` is ``None``.

Before the first training step it also evaluates the untrained model (``initial_metrics`` and
``initial_pairs`` in ``clocks.json``); ``final_pairs`` holds the last evaluation's per-pair table. With
``heatmap: true`` it draws P(row beats column) before and after training (``win_heatmap_initial.png``,
``win_heatmap.png``; needs matplotlib).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import lightning as L
import numpy as np
import torch

from lightning_clocks.callbacks.clock import CurveClockCallback, model_description
from lightning_clocks.errors import ConfigError, require_positive
from lightning_clocks.relational.data import PairDataModule
from lightning_clocks.relational.module import PairModule
from lightning_clocks.relational.task import CROSS_SECTION, CYCLE, WITHIN_SECTION, Pair, TransitiveTask, item_name
from lightning_clocks.relational.theory import category_accuracy, table_from_outputs
from lightning_clocks.results import HEATMAP_FILE, INITIAL_HEATMAP_FILE, atomic_path

PairRow = dict[str, Any]

#: The categories whose held-out accuracy defines the rule clock.
RULE_CATEGORIES: Final = (WITHIN_SECTION, CROSS_SECTION)
RULE_COLUMN: Final = "rule_accuracy"
MEM_COLUMN: Final = f"accuracy/{CYCLE}"
#: Joins the two items in a per-pair column name; no category name contains it.
PAIR_SEPARATOR: Final = "_vs_"


def pair_column(pair: Pair) -> str:
    """The curve column of an ordered pair's P(correct), e.g. ``"p_correct/I3_vs_I6"`` for ``(2, 5)``."""
    return f"p_correct/{item_name(pair[0])}{PAIR_SEPARATOR}{item_name(pair[1])}"


def rule_categories(task: TransitiveTask) -> list[str]:
    """The rule categories (within-section, cross-section) that have pairs in ``task``."""
    return [category for category in RULE_CATEGORIES if task.pairs_in(category)]


def pair_evaluation(
    task: TransitiveTask, pairs: Sequence[Pair], outputs: np.ndarray, p_win: np.ndarray
) -> tuple[dict[str, float], list[PairRow]]:
    """One curve row (without ``step``) and the per-pair table from model outputs and win probabilities.

    The table is :func:`~lightning_clocks.relational.theory.table_from_outputs` plus ``p_win`` and
    ``p_correct`` (``None`` without ground truth) per pair.
    """
    table = table_from_outputs(task, pairs, outputs)
    for row, probability in zip(table, np.asarray(p_win, dtype=np.float64), strict=True):
        row["p_win"] = float(probability)
        row["p_correct"] = None if row["label"] is None else float(probability if row["label"] > 0 else 1 - probability)
    metrics: dict[str, float] = {}
    accuracy = category_accuracy(table)
    for category, value in accuracy.items():
        metrics[f"accuracy/{category}"] = value
        metrics[f"p_correct/{category}"] = float(
            np.mean([row["p_correct"] for row in table if row["category"] == category and row["p_correct"] is not None])
        )
    rule = [accuracy[category] for category in rule_categories(task)]
    if rule:
        metrics[RULE_COLUMN] = min(rule)
    for row in table:
        if row["p_correct"] is not None:
            metrics[pair_column(row["pair"])] = row["p_correct"]
    return metrics, table


def win_matrix(num_items: int, table: Sequence[PairRow]) -> np.ndarray:
    """P(row item beats column item) as ``[n, n]`` (NaN on the diagonal) from a per-pair table."""
    matrix = np.full((num_items, num_items), np.nan)
    for row in table:
        i, j = row["pair"]
        matrix[i, j] = row["p_win"]
    return matrix


def describe_with_names(task: TransitiveTask, names: Sequence[str]) -> str:
    """:meth:`TransitiveTask.describe` with the items' own names, e.g. ``"9 items, exception Utah Jazz beats ..."``."""
    if task.exception is None:
        return f"{task.num_items} items, no exception"
    winner, loser = task.exception
    return f"{task.num_items} items, exception {names[winner]} beats {names[loser]}"


def plot_win_heatmap(matrix: np.ndarray, names: Sequence[str], path: str | Path, title: str) -> Path:
    """Draw P(row beats column) as a heat map with item names on both axes (matplotlib, Agg); return the path."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    colormap = colormaps["RdBu_r"].with_extremes(bad="0.8")  # the diagonal (no pair) grey, apart from P = 1/2 white
    size = 2.5 + 0.45 * len(names)
    figure = Figure(figsize=(size + 1.2, size), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    image = axis.imshow(matrix, vmin=0.0, vmax=1.0, cmap=colormap)
    axis.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(len(names)), names, fontsize=8)
    axis.set_xlabel("column item")
    axis.set_ylabel("row item")
    axis.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axis, label="P(row beats column)")
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    return Path(path)


class PairClockCallback(CurveClockCallback):
    """Scores every ordered pair on a schedule and measures tau_rule and tau_mem of transitive inference."""

    rule_series = RULE_COLUMN
    mem_series = MEM_COLUMN

    def __init__(
        self,
        eval_steps: list[int] | None = None,
        num_evaluations: int = 30,
        first_step: int = 1,
        rule_threshold: float = 1.0,
        mem_threshold: float = 1.0,
        smoothing: float = 0.0,
        batch_size: int = 256,
        evaluate_initial: bool = True,
        heatmap: bool = False,
    ) -> None:
        """
        Args:
            eval_steps: explicit, increasing evaluation steps; default is a log-spaced schedule.
            num_evaluations: evaluations in the log-spaced schedule (from first_step to trainer.max_steps).
            first_step: first step of the log-spaced schedule.
            rule_threshold: tau_rule is the first step with within- and cross-section accuracy >= this.
            mem_threshold: tau_mem is the first step with cycle accuracy >= this (1: every cycle member right).
            smoothing: Gaussian smoothing width over the evaluation index before crossing (0: none).
            batch_size: pairs scored at once in an evaluation.
            evaluate_initial: also evaluate the untrained model before the first step.
            heatmap: draw P(row beats column) before and after training (needs matplotlib).
        """
        super().__init__(eval_steps, num_evaluations, first_step, rule_threshold, mem_threshold, smoothing)
        require_positive("clocks.batch_size", batch_size)
        if heatmap:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise ConfigError(
                    "clocks.heatmap=true needs matplotlib: pip install 'lightning-clocks[plots]', "
                    "or set clocks.heatmap=false"
                ) from None
        self.batch_size = batch_size
        self.evaluate_initial = evaluate_initial
        self.heatmap = heatmap
        self.initial_row: dict[str, float] | None = None
        self.initial_pairs: list[PairRow] | None = None
        self.latest_pairs: list[PairRow] | None = None
        self.task: TransitiveTask | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not isinstance(pl_module, PairModule):
            raise ConfigError(f"PairClockCallback needs a PairModule, got {type(pl_module).__name__}")
        if not isinstance(trainer.datamodule, PairDataModule):
            raise ConfigError("PairClockCallback needs the PairDataModule (trainer.datamodule)")
        self.schedule = self.resolve_schedule(trainer.max_steps)
        self.task = trainer.datamodule.task

    # ----------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(
        self, module: PairModule, data: PairDataModule, world_size: int = 1, rank: int = 0
    ) -> dict[str, float]:
        """Score every ordered pair (eval mode, no gradients; every rank scores all of them, they are few); keep
        the per-pair table; return the curve row."""
        was_training = module.training
        module.eval()
        try:
            pairs = data.evaluation_pairs.to(module.device)
            outputs = torch.cat([module.pair_outputs(chunk) for chunk in torch.split(pairs, self.batch_size)])
            p_win = module.win_probability(outputs)
            train_loss = torch.stack(
                [
                    module.training_loss(chunk) * len(chunk)
                    for chunk in torch.split(data.training_rows.to(module.device), self.batch_size)
                ]
            ).sum() / len(data.training_rows)
        finally:
            module.train(was_training)
        metrics, table = pair_evaluation(
            data.task, data.task.all_pairs(), outputs.float().cpu().numpy(), p_win.float().cpu().numpy()
        )
        self.latest_pairs = table
        return {"train_loss": float(train_loss), **metrics}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Evaluate the untrained model once (not when resuming a run that already has it)."""
        if not self.evaluate_initial or self.initial_row is not None or trainer.global_step > 0:
            return
        self.initial_row = self.timed(self.evaluate, pl_module, trainer.datamodule)
        self.initial_pairs = self.latest_pairs

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        if not trainer.is_global_zero or not self.heatmap:
            return
        data: PairDataModule = trainer.datamodule
        run_dir = Path(trainer.default_root_dir)
        names = pl_module.item_names
        for table, file_name, when in (
            (self.initial_pairs, INITIAL_HEATMAP_FILE, "before training"),
            (self.latest_pairs, HEATMAP_FILE, f"after {trainer.global_step} steps"),
        ):
            if table is not None:
                title = f"P(row beats column), {describe_with_names(data.task, names)}, {when}"
                plot_win_heatmap(win_matrix(data.task.num_items, table), names, run_dir / file_name, title)

    # ----------------------------------------------------------------- results
    def describe_run(self, data: PairDataModule, module: PairModule) -> dict[str, Any]:
        return {
            "task": {
                "num_items": data.task.num_items,
                "exception": None if data.task.exception is None else list(data.task.exception),
                "description": data.task.describe(),
            },
            "rule_categories": rule_categories(data.task),
            "model": model_description(module),
            "items": module.item_names,
            "batch_size": data.batch_size,
            "seed": data.seed,
            "initial_metrics": _category_metrics(self.initial_row),
            "final_metrics": _category_metrics(self.rows[-1]),
            "initial_pairs": _json_table(self.initial_pairs),
            "final_pairs": _json_table(self.latest_pairs),
        }

    # ----------------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "task": None if self.task is None else task_key(self.task),
            "initial_row": self.initial_row,
            "initial_pairs": self.initial_pairs,
            "latest_pairs": self.latest_pairs,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the rows and tables of a checkpoint; refuse one trained on another task."""
        saved_task = state_dict.get("task")
        if self.task is not None and saved_task is not None and saved_task != task_key(self.task):
            raise ConfigError(
                f"the checkpoint was trained on num_items={saved_task[0]}, exception={saved_task[1]}, but this config "
                f"has data.num_items={self.task.num_items}, data.exception={task_key(self.task)[1]}; "
                "resume with the run's own config.yaml"
            )
        super().load_state_dict(state_dict)
        self.initial_row = state_dict.get("initial_row")
        self.initial_pairs = state_dict.get("initial_pairs")
        self.latest_pairs = state_dict.get("latest_pairs")


def task_key(task: TransitiveTask) -> list[object]:
    """``[num_items, exception as a list or None]``: what identifies a task in a checkpoint."""
    return [task.num_items, None if task.exception is None else list(task.exception)]


def _category_metrics(row: dict[str, float] | None) -> dict[str, float] | None:
    """A curve row without its per-pair columns (those are in the per-pair tables)."""
    if row is None:
        return None
    return {name: value for name, value in row.items() if PAIR_SEPARATOR not in name}


def _json_table(table: Sequence[PairRow] | None) -> list[PairRow] | None:
    """A per-pair table with list pairs (JSON has no tuples)."""
    return None if table is None else [{**row, "pair": list(row["pair"])} for row in table]
