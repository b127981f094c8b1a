"""``basins.csv``: its target classes, its columns in order, writing it and reading it back.

Kept free of torch and Lightning so that ``clocks report`` can draw the basin figures cheaply.
The columns are described in :mod:`lightning_clocks.basins.probe`; the file name is
:data:`lightning_clocks.results.BASINS_FILE`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from lightning_clocks.results import read_rows, write_csv

#: The target classes, in drawing order: training samples, held-out valid samples, invalid sequences.
TARGET_CLASSES = ("train", "control", "invalid")
#: The columns of ``basins.csv`` in the order the README documents them; those no row has (``flips`` for a DiT,
#: ``sigma`` for a GPT) are left out, and a column not listed here follows them in alphabetical order.
BASINS_COLUMNS = (
    "step",
    "target_class",
    "sigma",
    "flips",
    "return_rate",
    "basin_radius",
    "distance_empirical",
    "distance_population",
    "log_likelihood",
)


def write_basins(path: str | os.PathLike[str], rows: Sequence[Mapping[str, object]]) -> None:
    """Write ``basins.csv`` atomically, its columns in the order of :data:`BASINS_COLUMNS`."""
    write_csv(path, rows, [column for column in BASINS_COLUMNS if any(column in row for row in rows)])


def read_basins(path: str | os.PathLike[str]) -> list[dict[str, object]]:
    """Read ``basins.csv`` back: ``target_class`` as text, ``step`` and ``flips`` as ints, empty cells as ``None``."""
    return read_rows(path, text_columns=("target_class",), int_columns=("step", "flips"))
