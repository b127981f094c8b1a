"""The progress bar of ``clocks fit``: steps out of max_steps, the latest rates, and redraws bounded by time."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.callbacks.progress import StepProgressBar


def test_the_bar_redraws_at_most_once_per_interval_and_ends_on_the_last_rates() -> None:
    steps, interval = 2000, 0.1
    clock = ClockCallback(num_evaluations=2, first_step=10, num_samples=8, sample_batch_size=8)
    clock.rows = [{"step": 10, "validity": 0.25, "copy_rate": 0.0}]
    trainer = SimpleNamespace(global_step=0, max_steps=steps, callbacks=[clock])
    screen = io.StringIO()
    progress = StepProgressBar()
    progress._train_progress_bar = Tqdm(total=steps, file=screen, mininterval=interval)
    progress.get_metrics = lambda trainer, module: {"train/loss": "0.500", "v_num": 0}
    started = time.perf_counter()
    for step in range(1, steps + 1):
        trainer.global_step = step
        if step == steps:
            clock.rows.append({"step": steps, "validity": 0.982, "copy_rate": 0.012})
        progress.on_train_batch_end(trainer, None, None, None, step - 1)
    elapsed = time.perf_counter() - started
    progress.train_progress_bar.close()
    frames = [frame for frame in screen.getvalue().split("\r") if frame.strip()]
    # The first frame (drawn when the bar opens), one per elapsed interval at most, and the closing frame.
    assert len(frames) <= elapsed / interval + 3, (len(frames), elapsed)
    assert f"{steps}/{steps}" in frames[-1]
    assert "validity=0.982" in frames[-1] and "copy_rate=0.012" in frames[-1] and "train/loss=0.500" in frames[-1]
    assert "v_num" not in screen.getvalue()
