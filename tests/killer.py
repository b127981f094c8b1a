"""Test-only callbacks that kill at a given step (after that step's evaluation): the run itself, or W&B's service."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import lightning as L


class SigkillAtStep(L.Callback):
    """Kill the training process with SIGKILL once ``step`` optimizer steps are done."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class KillWandbThenSigterm(L.Callback):
    """At ``step``, what Slurm's SIGTERM to a whole job does to a run: W&B's service process (a child of the run)
    ends, the run gets SIGTERM; then a W&B call, as a measurement of that step would make."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step != self.step:
            return
        for pid in child_pids():
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        os.kill(os.getpid(), signal.SIGTERM)
        for logger in trainer.loggers:
            logger.log_metrics({"killer/step": float(self.step)}, step=self.step)


def child_pids() -> list[int]:
    """The ids of this process's child processes (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == os.getpid():
            children.append(int(stat.parent.name))
    return children
