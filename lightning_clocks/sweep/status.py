"""``clocks sweep --status``: a sweep's runs, their statuses (:func:`lightning_clocks.results.run_status`),
clocks and windows, as a table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from lightning_clocks.feedback import clock_text, window_text
from lightning_clocks.results import FAILED, FINISHED, STATUSES


def status_clock(value: object, status: object) -> str:
    """A clock in the table: ``never`` only once its run has ended; a run still training (or stopped midway, to be
    resumed) has ``not yet`` crossed."""
    if value is None and status not in (FINISHED, FAILED):
        return "not yet"
    return clock_text(value)


def status_report(rows: Sequence[Mapping[str, object]]) -> str:
    """``clocks sweep --status``: one line per run (name, status, clocks, window) and a count per status."""
    width = max(len(str(row["run"])) for row in rows)
    lines = [f"{'run':<{width}}  {'status':<17}  tau_rule  tau_mem  window"]
    for row in rows:
        clocks = ""
        if "tau_rule" in row:
            rule, mem = (status_clock(row.get(name), row["status"]) for name in ("tau_rule", "tau_mem"))
            clocks = f"{rule:>8}  {mem:>7}  {window_text(row)}"
        lines.append(f"{row['run']!s:<{width}}  {row['status']!s:<17}  {clocks}".rstrip())
    counts = Counter(str(row["status"]) for row in rows)
    lines.append(", ".join(f"{counts[status]} {status}" for status in STATUSES if counts[status]))
    return "\n".join(lines)
