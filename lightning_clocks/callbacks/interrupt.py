"""Stop a run cleanly on Ctrl+C or SIGTERM: finish the step, save ``last.ckpt``, exit 130 or 143.

Lightning turns SIGTERM into ``SIGTERMException`` at the next step boundary but saves nothing, and on
Ctrl+C it stops wherever the interrupt lands. This callback makes both end the same way: the signal is
noted, the running step finishes, the checkpoint of that step is written to the checkpoint folder's
``last.ckpt`` (so ``--ckpt_path last`` continues exactly there) and the command exits with the shell's
status for the signal. A second Ctrl+C stops at once.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lightning_clocks.errors import RunInterrupted
from lightning_clocks.results import LAST_CHECKPOINT


class InterruptCheckpoint(Callback):
    """Turns the first SIGINT into a stop at the next step boundary and saves ``last.ckpt`` on SIGINT or SIGTERM."""

    def __init__(self) -> None:
        self.signal_received: int | None = None
        self._previous_handler: Any = None

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_received is not None:
            raise KeyboardInterrupt  # a second Ctrl+C: stop now
        self.signal_received = signum

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        if self.signal_received is not None:
            raise RunInterrupted("SIGINT", self.signal_received)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, (RunInterrupted, SIGTERMException)):
            return
        checkpointing = next((cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint)), None)
        if checkpointing is None or checkpointing.dirpath is None:
            exception.add_note(f"at step {trainer.global_step}; no checkpoint folder, nothing was saved")
            return
        path = Path(checkpointing.dirpath) / LAST_CHECKPOINT
        trainer.save_checkpoint(path)
        exception.add_note(f"at step {trainer.global_step}; saved {path}: continue with --ckpt_path last")

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None
