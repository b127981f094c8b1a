"""A test-only callback that SIGKILLs its own process at a given step (after that step's evaluation)."""

from __future__ import annotations

import os
import signal
from typing import Any

import lightning as L


class SigkillAtStep(L.Callback):
    """Kill the training process with SIGKILL once ``step`` optimizer steps are done."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)
