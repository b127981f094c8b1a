"""What the commands print for a researcher watching them: the closing line of ``clocks fit`` and ``clocks
ensemble``, the progress line of ``clocks sweep``, and the quiet screen (third-party messages the user cannot act on
are dropped). Nothing here imports Lightning.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

from lightning_clocks.clocks import window_state
from lightning_clocks.results import CLOCKS_FILE, read_json

#: Warnings of the libraries under us that ask nothing of the user: Lightning's advice to launch with ``srun``
#: wherever Slurm is installed (``clocks sweep --slurm`` does what a run needs), and a deprecation inside Lightning.
QUIET_WARNINGS = (
    r"The `srun` command is available on your system",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
#: Lightning's log lines that advertise other products, or repeat what the closing line says (the steps trained).
QUIET_LOG_LINES = re.compile(r"💡 Tip:|`Trainer.fit` stopped: `max_steps=\d+` reached")
#: The loggers Lightning's informational lines go through.
LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


def _keep_record(record: logging.LogRecord) -> bool:
    """Whether a Lightning log line reaches the screen."""
    return QUIET_LOG_LINES.match(str(record.msg)) is None


@contextlib.contextmanager
def quiet_screen(*extra_warnings: str) -> Iterator[None]:
    """Drop :data:`QUIET_WARNINGS`, ``extra_warnings`` (regexes of a warning's start) and Lightning's tips while the
    body runs; every other warning and line still shows."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    with warnings.catch_warnings():
        for message in (*QUIET_WARNINGS, *extra_warnings):
            warnings.filterwarnings("ignore", message=message)
        for logger in loggers:
            logger.addFilter(_keep_record)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(_keep_record)


def clock_text(value: object) -> str:
    """A clock as printed: the step rounded, or ``never`` for a clock that did not cross (docs/method.md,
    "Clocks")."""
    return "never" if value is None else f"{float(value):.0f}"


def window_text(summary: Mapping[str, object]) -> str:
    """The innovation window of a ``clocks.json`` summary as printed: ``open, 0.79 decades``, ``open (tau_mem not
    reached)``, ``closed`` or ``unknown`` (tau_rule not reached; docs/method.md, "Clocks")."""
    tau_rule, tau_mem, width = (optional_float(summary.get(key)) for key in ("tau_rule", "tau_mem", "window_log10"))
    state = window_state(tau_rule, tau_mem)
    if state != "open":
        return state
    return "open (tau_mem not reached)" if width is None else f"open, {width:.2f} decades"


def optional_float(value: object) -> float | None:
    """A number read from JSON or CSV as a float; None stays None."""
    return None if value is None else float(value)  # type: ignore[arg-type]


def closing_line(run_dir: Path, note: str | None = None, prefix: str = "[clocks]") -> str | None:
    """The last line of ``clocks fit`` (and of each ``clocks ensemble`` member): tau_rule, tau_mem, the innovation
    window, the run folder and ``note`` (where the W&B run went); None for a run that measured nothing (no
    ``clocks.json``)."""
    if not (run_dir / CLOCKS_FILE).exists():
        return None
    summary = read_json(run_dir / CLOCKS_FILE)
    return (
        f"{prefix} tau_rule={clock_text(summary.get('tau_rule'))} tau_mem={clock_text(summary.get('tau_mem'))} "
        f"window={window_text(summary)} after {summary.get('steps_trained')} steps; run folder: {run_dir.resolve()}"
        + (f"; {note}" if note else "")
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
