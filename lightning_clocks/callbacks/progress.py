"""The training progress bar of ``clocks fit``: optimizer steps out of ``trainer.max_steps``, the loss, and the
latest evaluation's rule and copy rates.

Training is counted in steps, not epochs (docs/method.md), so Lightning's ``Epoch 0/-2`` bar says nothing; this
bar spans the whole run and starts at the resumed step. It redraws at most every ``mininterval`` seconds of tqdm
(0.1 s), not at every step: a redraw formats and writes the whole line, which cost more than the rest of the
bar's work together (docs/performance.md).
"""

from __future__ import annotations

import time
from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import TQDMProgressBar

from lightning_clocks.callbacks.clock import CurveClockCallback

#: Columns of the newest curve row shown on the bar, when the clock callback measures them.
SHOWN_RATES = ("validity", "copy_rate")


class StepProgressBar(TQDMProgressBar):
    """A TQDM bar over the run's optimizer steps with the latest evaluation's validity and copy rate."""

    def on_train_epoch_start(self, trainer: Trainer, *_: Any) -> None:
        bar = self.train_progress_bar
        bar.reset(total=trainer.max_steps if trainer.max_steps > 0 else None)
        bar.initial = 0
        bar.n = trainer.global_step
        bar.set_description("step")
        bar.refresh()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        bar = self.train_progress_bar
        if bar is None or bar.disable or not self._should_update(trainer.global_step, bar.total):
            return
        step = trainer.global_step
        # The postfix is gathered only when tqdm is about to redraw (its clock, its interval), and the redraw is
        # left to tqdm's ``update``, which skips it when the last one is more recent than ``mininterval``.
        if step == bar.total or time.time() - bar.last_print_t >= bar.mininterval:
            metrics = self.get_metrics(trainer, pl_module)
            metrics.pop("v_num", None)  # the logger's version says nothing while training
            bar.set_postfix({**metrics, **latest_rates(trainer)}, refresh=False)
        bar.update(step - bar.n)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Keep one bar for the whole run: the data's epochs are an implementation detail."""


def latest_rates(trainer: Trainer) -> dict[str, str]:
    """The newest evaluation's validity and copy rate (or, for another clock, its two series), formatted."""
    clock = next((cb for cb in trainer.callbacks if isinstance(cb, CurveClockCallback)), None)
    if clock is None or not clock.rows:
        return {}
    row = clock.rows[-1]
    names = [name for name in SHOWN_RATES if name in row] or [clock.rule_series, clock.mem_series]
    return {name: f"{row[name]:.3f}" for name in names if name in row}
