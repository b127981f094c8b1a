"""Stop a run cleanly on Ctrl+C, SIGTERM or SIGUSR1: finish the step, save ``last.ckpt``, exit 130, 143 or 138.

A signal handler here only notes the signal. At the next step boundary (``on_train_batch_end``, after every
measurement of that step) every rank learns whether any rank got a signal (one all-reduce under DDP), so all
stop at the same step; the checkpoint of that step is then written to the checkpoint folder's ``last.ckpt``
through the Trainer's normal (atomic) checkpoint path, so ``--ckpt_path last`` continues exactly there, and the
command exits with the shell's status for the signal (128 + its number). A second Ctrl+C stops at once.

This is how every pre-emption saves: Slurm's warning signal, ``scontrol requeue``, a pre-emption and ``scancel``
all end a run through this path (:mod:`lightning_clocks.sweep.slurm`). Lightning's own handlers are replaced while the
run trains: its SIGTERM handler broadcasts a tensor from inside the handler, and its Slurm USR1 handler (off in
:mod:`lightning_clocks.fit`) saves inside the handler with a barrier; under DDP both can deadlock when the signal
lands mid-step. No checkpoint is ever written inside a signal handler.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lightning_clocks.errors import RunInterrupted
from lightning_clocks.results import LAST_CHECKPOINT

#: The signals that stop a run at its next step: Ctrl+C, a polite kill or pre-emption, Slurm's warning signal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)

#: The first stop signal this process received while training (None: none yet). Module-level, so that W&B calls
#: can tell a failure caused by a pre-emption (Slurm's SIGTERM also ends W&B's service process) from any other.
_received: int | None = None


@contextlib.contextmanager
def unless_stopping(action: str) -> Iterator[None]:
    """Run a W&B call (``action`` names it) that may fail, once a stop signal came, because Slurm's SIGTERM also
    ended W&B's service process: its connection error is then one warning, so the run still saves and exits.
    Before a stop signal, and for any other error, the error is raised as usual."""
    try:
        yield
    except ConnectionError as error:
        if _received is None:
            raise
        warnings.warn(
            f"W&B {action} skipped after the stop signal: its service process is gone ({error!r})", stacklevel=3
        )


class InterruptCheckpoint(Callback):
    """Turns SIGINT, SIGTERM and SIGUSR1 into a stop at the next step boundary that every rank agrees on, with
    ``last.ckpt`` saved."""

    def __init__(self) -> None:
        self._previous_handlers: dict[int, Any] = {}

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Installed here, after Lightning registered its own handlers (just before training), to replace them.
        global _received
        _received = None
        if threading.current_thread() is threading.main_thread():
            for number in STOP_SIGNALS:
                self._previous_handlers[number] = signal.signal(number, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Only note the signal: the run stops at its next step boundary."""
        global _received
        if _received == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl+C: stop now
        if _received is None:
            _received = signum

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        stop = _received is not None
        if trainer.world_size > 1:
            # Ranks may get the signal during different steps: stop all of them at the first step any rank saw it.
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            number = signal.SIGTERM if _received is None else _received
            raise RunInterrupted(signal.Signals(number).name, number)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        # Runs before Lightning finalizes the loggers: the checkpoint never waits on W&B.
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
        for number, handler in self._previous_handlers.items():
            signal.signal(number, handler)
        self._previous_handlers = {}
