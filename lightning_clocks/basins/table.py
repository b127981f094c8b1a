"""``basins.csv``: its target classes and reading it back.

Kept free of torch and Lightning so that ``clocks report`` can draw the basin figures cheaply.
The columns are described in :mod:`lightning_clocks.basins.probe`; the file name is
:data:`lightning_clocks.results.BASINS_FILE`.
"""

from __future__ import annotations

import os

from lightning_clocks.results import read_rows

#: The target classes, in drawing order: training samples, held-out valid samples, invalid sequences.
TARGET_CLASSES = ("train", "control", "invalid")


def read_basins(path: str | os.PathLike[str]) -> list[dict[str, object]]:
    """Read ``basins.csv`` back: ``target_class`` as text, ``step`` and ``flips`` as ints, empty cells as ``None``."""
    return read_rows(path, text_columns=("target_class",), int_columns=("step", "flips"))
