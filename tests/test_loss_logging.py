"""train/loss is logged only on the steps the loggers write, with that step's own value."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import torch
from conftest import quiet_trainer
from lightning.pytorch.loggers import CSVLogger

from lightning_clocks.data import RuleDataModule
from lightning_clocks.modules import AutoregressiveModule
from lightning_clocks.rules import GroupParity


class StopAt(L.Callback):
    """Stops training once ``step`` optimizer steps are done, as the clock callback's stop_when_memorized does."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            trainer.should_stop = True


def logged_losses(run_dir: Path, log_every_n_steps: int) -> dict[int, float]:
    """Train a tiny GPT for up to 30 steps, stopped after 13, and read train/loss per step from the CSV log."""
    L.seed_everything(0, verbose=False)
    module = AutoregressiveModule(sequence_length=8, vocab_size=2, n_layer=1, n_head=2, n_embd=16, lr=1e-2)
    data = RuleDataModule(GroupParity(8, 2), n_train=8, n_control=8, batch_size=4)
    logger = CSVLogger(run_dir, name="csv")
    trainer = quiet_trainer(run_dir, 30, [StopAt(13)], logger=logger, log_every_n_steps=log_every_n_steps)
    trainer.fit(module, datamodule=data)
    with open(Path(logger.log_dir) / "metrics.csv") as stream:
        return {int(row["step"]): float(row["train/loss"]) for row in csv.DictReader(stream) if row["train/loss"]}


def test_sparse_logging_writes_each_logged_step_its_own_loss(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    every_step = logged_losses(tmp_path / "every", 1)
    sparse = logged_losses(tmp_path / "sparse", 5)
    assert sorted(every_step) == list(range(13))
    # Steps 4 and 9 are the 5th and 10th; step 12 (the 13th) is written because training stops there.
    assert sorted(sparse) == [4, 9, 12]
    assert all(sparse[step] == every_step[step] for step in sparse)
