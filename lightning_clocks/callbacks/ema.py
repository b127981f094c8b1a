"""Optional EMA weights: the clocks and basins measured on an exponential moving average of the weights.

EDM and DiT evaluate their samplers on an exponential moving average (EMA) of the weights; ``clocks fit
--ema.decay=0.99`` does the same here (off by default). The average is kept by Lightning's
:class:`~lightning.pytorch.callbacks.EMAWeightAveraging` (torch's ``AveragedModel``), with its checkpoint
layout: a checkpoint's ``state_dict`` holds the averaged weights (what ``clocks validate`` and ``clocks basins``
then measure), ``current_model_state`` the live weights that training resumes from. Lightning swaps the
averaged weights in only around validation loops, while the clocks measure at training steps, so
:class:`EMAWeights` hands its averaged copy of the module to every scheduled callback instead
(:func:`measured_module`); docs/method.md, "EMA weights", has the measured effect on one run's clocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging

from lightning_clocks.errors import ConfigError


@dataclass
class EMAOptions:
    """Measure the clocks on an exponential moving average of the weights (``clocks fit``; off by default).

    Args:
        decay: the average's decay per optimizer step, in (0, 1): it averages over about 1 / (1 - decay) steps
            (0.99: the last 100). Null: measure the live weights.
        start_step: the first optimizer step averaged (0-based); the average starts as a copy of the weights then.
    """

    decay: float | None = None
    start_step: int = 0

    def __post_init__(self) -> None:
        if self.decay is not None and not (0 < self.decay < 1 and math.isfinite(self.decay)):
            raise ConfigError(f"ema.decay={self.decay} is invalid; allowed: null (off) or a number in (0, 1)")
        if self.start_step < 0:
            raise ConfigError(f"ema.start_step={self.start_step} is invalid; allowed: an integer >= 0")

    def callback(self) -> EMAWeights | None:
        """The callback that keeps the average, or None when EMA is off."""
        return None if self.decay is None else EMAWeights(self.decay, self.start_step)


class EMAWeights(EMAWeightAveraging):
    """Keeps the EMA of the module's weights for the scheduled callbacks to measure (:func:`measured_module`)."""

    def __init__(self, decay: float, start_step: int = 0) -> None:
        super().__init__(decay=decay, update_starting_at_step=start_step)
        self.decay = decay

    @property
    def averaged_module(self) -> L.LightningModule:
        """The module with the averaged weights (a copy of the trained module, made when fit starts)."""
        # Lightning keeps the average in a private attribute and offers no accessor; this is its one use here.
        average = self._average_model
        if average is None:
            raise RuntimeError("the EMA weights exist only once fit has started")
        return average.module

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Move the average to the module's device: Lightning builds it in ``setup``, before the strategy moves the
        module to its accelerator, and would otherwise keep it on the CPU."""
        self.averaged_module.to(pl_module.device)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Keep the live weights in the module (Lightning copies the average over them here): a checkpoint written
        after training, such as the last good state after a non-finite loss, must still resume exactly."""

    def state_dict(self) -> dict[str, Any]:
        """Lightning's state, and the decay, so that a resume with another decay is refused."""
        return {**super().state_dict(), "decay": self.decay}


def ema_callback(trainer: L.Trainer) -> EMAWeights | None:
    """The run's EMA callback (None: the clocks measure the live weights)."""
    return next((callback for callback in trainer.callbacks if isinstance(callback, EMAWeights)), None)


def measured_module(trainer: L.Trainer, pl_module: L.LightningModule) -> L.LightningModule:
    """The module whose weights a scheduled callback measures: the EMA weights when the run keeps them, else
    ``pl_module`` itself."""
    ema = ema_callback(trainer)
    return pl_module if ema is None else ema.averaged_module


def run_ema_decay(trainer: L.Trainer) -> float | None:
    """The decay of the run's EMA weights (None: the clocks measure the live weights)."""
    ema = ema_callback(trainer)
    return None if ema is None else ema.decay


def checkpoint_ema_decay(checkpoint: dict[str, Any]) -> float | None:
    """The EMA decay that a loaded checkpoint was trained with (None: no EMA)."""
    state = checkpoint.get("callbacks", {}).get(EMAWeights.__qualname__)
    return float(state["decay"]) if isinstance(state, dict) and "decay" in state else None
