"""``basins.csv``: its target classes, its columns, writing and reading it.

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
#: The columns of ``basins.csv``, in the order the README documents them (a file holds those its rows have).
BASIN_COLUMNS = (
    "step",
    "target_class",
    "sigma",
    "flips",
    "return_rate",
    "basin_radius",
    "floor_radius",
    "population_radius",
    "memorizer_radius",
    "expansion",
    "dominance",
    "dominance_low",
    "dominance_high",
    "distance_empirical",
    "distance_population",
    "log_likelihood",
)


def write_basins(path: str | os.PathLike[str], rows: Sequence[Mapping[str, object]]) -> None:
    """Write ``basins.csv`` atomically, its columns in :data:`BASIN_COLUMNS` order."""
    present = {name for row in rows for name in row}
    write_csv(path, rows, [name for name in BASIN_COLUMNS if name in present])


def read_basins(path: str | os.PathLike[str]) -> list[dict[str, object]]:
    """Read ``basins.csv`` back: ``target_class`` as text, ``step`` and ``flips`` as ints, empty cells as ``None``."""
    return read_rows(path, text_columns=("target_class",), int_columns=("step", "flips"))
