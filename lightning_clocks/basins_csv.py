"""``basins.csv``: its name, its target classes and reading it back.

Kept free of torch and Lightning so that ``clocks report`` can draw the basin figures cheaply.
The columns are described in :mod:`lightning_clocks.basins`.
"""

from __future__ import annotations

import csv
import os

BASINS_FILE = "basins.csv"
#: The target classes, in drawing order: training samples, held-out valid samples, invalid sequences.
TARGET_CLASSES = ("train", "control", "invalid")


def read_basins(path: str | os.PathLike[str]) -> list[dict[str, object]]:
    """Read ``basins.csv`` back: ``target_class`` as text, ``step`` and ``flips`` as ints, empty cells as ``None``."""
    with open(path, newline="") as stream:
        raw_rows = list(csv.DictReader(stream))
    rows = []
    for raw in raw_rows:
        row: dict[str, object] = {}
        for column, text in raw.items():
            if column == "target_class":
                row[column] = text
            elif text == "":
                row[column] = None
            else:
                row[column] = int(float(text)) if column in ("step", "flips") else float(text)
        rows.append(row)
    return rows
