"""``clocks sweep --status``: a sweep's runs, their statuses (:func:`lightning_clocks.results.run_status`) and
clocks, as a table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from lightning_clocks.feedback import clock_text
from lightning_clocks.results import STATUSES


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
