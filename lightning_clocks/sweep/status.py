"""The status of a sweep's runs, from their folders: what ``sweep.csv`` and ``clocks sweep --status`` show.

Besides the statuses of :func:`lightning_clocks.results.run_status` (finished, failed, incomplete, pending), a
run whose folder lock is held by a live process is ``running``, and a run whose last launch exited 75 because
another process held its lock (:class:`~lightning_clocks.errors.RunInUse`) is ``running elsewhere``, not failed;
once that process has let go of the lock the run is ``incomplete`` again, and the next sweep resumes it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from lightning_clocks.errors import RunInUse
from lightning_clocks.feedback import clock_text
from lightning_clocks.results import EXIT_FILE, FAILED, FINISHED, INCOMPLETE, PENDING, run_status
from lightning_clocks.run_lock import LOCK_FILE, is_stale, read_lock

RUNNING, RUNNING_ELSEWHERE = "running", "running elsewhere"
#: Every status a sweep's run can have, in the order ``--status`` counts them.
STATUSES = (FINISHED, FAILED, INCOMPLETE, PENDING, RUNNING, RUNNING_ELSEWHERE)


def lock_held(run_dir: Path) -> bool:
    """Whether a live process (here or on another host) holds ``run_dir``'s lock; an unreadable lock counts as
    held, as :func:`lightning_clocks.run_lock.acquire` treats it."""
    lock = read_lock(run_dir / LOCK_FILE)
    return lock is not None and (not lock or not is_stale(lock))


def sweep_run_status(run_dir: Path) -> str:
    """The status of one run of a sweep (see the module's description)."""
    exit_file = run_dir / EXIT_FILE
    if exit_file.exists() and exit_file.read_text().strip() == str(RunInUse.exit_status):
        return RUNNING_ELSEWHERE if lock_held(run_dir) else INCOMPLETE
    status = run_status(run_dir)
    if status in (INCOMPLETE, PENDING) and lock_held(run_dir):
        return RUNNING
    return status


def status_report(rows: Sequence[Mapping[str, object]]) -> str:
    """``clocks sweep --status``: one line per run (name, status, clocks) and a count per status."""
    width = max(len(str(row["run"])) for row in rows)
    lines = [f"{'run':<{width}}  {'status':<17}  tau_rule  tau_mem"]
    for row in rows:
        clocks = (
            f"{clock_text(row.get('tau_rule')):>8}  {clock_text(row.get('tau_mem')):>7}" if "tau_rule" in row else ""
        )
        lines.append(f"{row['run']!s:<{width}}  {row['status']!s:<17}  {clocks}".rstrip())
    counts = Counter(str(row["status"]) for row in rows)
    lines.append(", ".join(f"{counts[status]} {status}" for status in STATUSES if counts[status]))
    return "\n".join(lines)
