"""What the commands print for a researcher watching them: the closing line of ``clocks fit`` and the progress
line of ``clocks sweep``. Nothing here imports Lightning.
"""

from __future__ import annotations

import time
from pathlib import Path

from lightning_clocks.results import CLOCKS_FILE, read_json


def clock_text(value: object) -> str:
    """A clock as printed: the step rounded, or ``never`` for a clock that did not cross (docs/method.md,
    "Clocks")."""
    return "never" if value is None else f"{float(value):.0f}"


def closing_line(run_dir: Path) -> str | None:
    """``clocks fit``'s last line: tau_rule, tau_mem, the innovation window and the run folder; None for a run that
    measured nothing (no ``clocks.json``)."""
    if not (run_dir / CLOCKS_FILE).exists():
        return None
    summary = read_json(run_dir / CLOCKS_FILE)
    width = summary.get("window_log10")
    if not summary.get("window_open"):
        window = "closed"
    elif width is None:
        window = "open (tau_mem not reached)"
    else:
        window = f"open, {width:.2f} decades"
    return (
        f"[clocks] tau_rule={clock_text(summary.get('tau_rule'))} tau_mem={clock_text(summary.get('tau_mem'))} "
        f"window={window} after {summary.get('steps_trained')} steps; run folder: {run_dir.resolve()}"
    )


class SweepProgress:
    """Counts the runs of a sweep as they end and words ``k/N done`` with an estimate of the time left."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()

    def run_ended(self) -> str:
        """Count one more ended run; the progress line (the ETA assumes the remaining runs take as long on
        average as those that ended)."""
        self.done += 1
        elapsed = time.monotonic() - self.started
        left = self.total - self.done
        eta = f", ETA {duration_text(elapsed / self.done * left)}" if left else ""
        return f"[sweep] {self.done}/{self.total} done after {duration_text(elapsed)}{eta}"


def duration_text(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``12s``."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
