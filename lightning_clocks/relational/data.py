"""The DataModule of transitive inference (docs/method.md): the training pairs with labels, and every ordered pair.

A batch is a ``LongTensor[B, 3]`` of rows ``(first item, second item, label)``: 0-based item indices as in
:mod:`lightning_clocks.relational.task`, and the label ``+1`` when the first item wins, ``-1`` when it loses
(:func:`split_batch` turns it into pairs and float labels). Training time is counted in optimizer steps:
the training loader is an endless stream, either the full batch of every training pair at every step
(``batch_size: null``), or ``batch_size`` pairs drawn uniformly with replacement, where the batch of step
``s`` on rank ``r`` depends only on ``(seed, r, s)`` (the same stream as :class:`~lightning_clocks.data.RuleDataModule`,
so a resumed run sees the same batches). Evaluation covers every ordered pair (:attr:`PairDataModule.evaluation_pairs`).
"""

from __future__ import annotations

from collections.abc import Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, IterableDataset

from lightning_clocks.data import StepBatches
from lightning_clocks.errors import ConfigError, require_positive
from lightning_clocks.relational.task import Pair, TransitiveTask


def split_batch(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs ``LongTensor[B, 2]`` and float labels ``[B]`` (+1: the first item wins) of a batch of rows."""
    return batch[:, :2], batch[:, 2].float()


class FullBatches(IterableDataset):
    """The same full batch of rows at every step, forever."""

    def __init__(self, rows: torch.Tensor) -> None:
        super().__init__()
        self.rows = rows

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            yield self.rows


class PairDataModule(L.LightningDataModule):
    """Training pairs of one transitive-inference task and the stream of training batches."""

    def __init__(
        self,
        num_items: int = 9,
        exception: tuple[int, int] | None = (5, 3),
        batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        """
        Args:
            num_items: n, items in the line (item 0 is the strongest).
            exception: (W, L) as 0-based indices, W ranked below L and winning against it (W - L >= 2);
                null for no exception. The "mid" variant is num_items 9, exception [5, 3] (I6 beats I4).
            batch_size: pairs per optimizer step, drawn uniformly with replacement; null: every training
                pair at every step (full batch).
            seed: seed of the batch stream (unused with the full batch).
        """
        super().__init__()
        try:
            self.task = TransitiveTask(num_items=num_items, exception=None if exception is None else tuple(exception))
        except ConfigError as error:
            raise ConfigError(f"data.{error}") from None
        if batch_size is not None:
            require_positive("data.batch_size", batch_size)
        self.batch_size = batch_size
        self.seed = seed
        self.training_rows = pair_rows(self.task, self.task.training_pairs())
        self.evaluation_pairs = torch.tensor(self.task.all_pairs(), dtype=torch.long)

    @property
    def num_items(self) -> int:
        """n of the task (the CLI links it to the model)."""
        return self.task.num_items

    def train_dataloader(self) -> DataLoader:
        if self.batch_size is None:
            return DataLoader(FullBatches(self.training_rows), batch_size=None, num_workers=0)
        trainer = self.trainer
        rank = trainer.global_rank if trainer is not None else 0
        start_step = trainer.global_step if trainer is not None else 0
        batches = StepBatches(self.training_rows, self.batch_size, self.seed, rank, start_step)
        return DataLoader(batches, batch_size=None, num_workers=0)


def pair_rows(task: TransitiveTask, pairs: list[Pair]) -> torch.Tensor:
    """Rows ``(first, second, label)`` of pairs that all have ground truth, as ``LongTensor[len(pairs), 3]``."""
    rows = []
    for first, second in pairs:
        label = task.label((first, second))
        if label is None:
            raise ConfigError(f"pair ({first}, {second}) has no ground truth, so it cannot be a training pair")
        rows.append((first, second, int(label)))
    return torch.tensor(rows, dtype=torch.long).reshape(-1, 3)
