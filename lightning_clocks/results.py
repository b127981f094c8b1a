"""Run results on disk: ``curves.csv`` and ``clocks.json``, always written atomically.

A writer first writes a temporary file in the same folder, flushes it to disk, then renames
it over the target; a crash at any moment leaves the previous complete file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

CURVES_FILE = "curves.csv"
CLOCKS_FILE = "clocks.json"
VALIDATE_FILE = "validate.json"


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old file or the new one, never a torn one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_curves(path: str | os.PathLike[str], rows: Sequence[Mapping[str, float]]) -> None:
    """Write one CSV row per evaluation; columns are ``step`` first, then every metric in sorted order."""
    columns = ["step", *sorted({key for row in rows for key in row} - {"step"})]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def read_curves(path: str | os.PathLike[str]) -> dict[str, list[float]]:
    """Read ``curves.csv`` back as columns of floats (``step`` as ints)."""
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    if not rows:
        return {}
    columns = {name: [float(row[name]) for row in rows] for name in rows[0]}
    columns["step"] = [int(step) for step in columns["step"]]
    return columns


def write_json(path: str | os.PathLike[str], payload: Mapping[str, object]) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")
