"""The one way benchmarks print their results and append them to ``docs/performance.md``."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import torch

PERFORMANCE_DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def publish(title: str, command: str, rows: list[tuple[str, str]], write: bool) -> None:
    """Print a dated markdown table naming the machine; with ``write``, append it to docs/performance.md."""
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    lines = [
        f"### {title}, {datetime.date.today().isoformat()} ({machine})",
        "",
        f"Command: `{command}`",
        "",
        "| measure | value |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if write:
        with open(PERFORMANCE_DOC, "a") as stream:
            stream.write("\n" + report)
