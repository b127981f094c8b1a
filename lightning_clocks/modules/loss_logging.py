"""Logging the training loss only on the steps the loggers write, for every LightningModule of the package."""

from __future__ import annotations

import lightning as L
import torch


def is_logged_step(trainer: L.Trainer) -> bool:
    """Whether the loggers write the step that has just ended (called from ``on_train_batch_end``).

    Lightning writes step metrics every ``trainer.log_every_n_steps`` optimizer steps and on the step that stops
    training, but ``self.log`` costs about a millisecond on every call, as much as a small model's whole step on
    a GPU; logging only on the written steps keeps the loggers' rows and removes that cost.
    """
    every = trainer.log_every_n_steps
    return every > 0 and (trainer.should_stop or trainer.global_step % every == 0)


class LossLoggingModule(L.LightningModule):
    """A LightningModule whose ``training_step`` stores ``last_loss`` and which logs it as ``train/loss``."""

    last_loss: torch.Tensor

    def on_train_batch_end(self, outputs: object, batch: object, batch_idx: int) -> None:
        """Log ``train/loss`` on the steps the loggers write (a non-finite loss on the step it stops)."""
        if is_logged_step(self.trainer):
            self.log("train/loss", self.last_loss, prog_bar=True)
