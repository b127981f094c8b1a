"""Basins of attraction and the learned score landscape: the mechanism behind the two clocks.

- :mod:`~lightning_clocks.basins.probe`: the measurements, as functions of a denoiser or a GPT;
- :mod:`~lightning_clocks.basins.denoisers`: the reference denoisers (empirical optimum, population);
- :mod:`~lightning_clocks.basins.callback`: :class:`BasinCallback`, measuring during training;
- :mod:`~lightning_clocks.basins.table`: reading ``basins.csv``;
- :mod:`~lightning_clocks.basins.figures`: the report's basin figures;
- :mod:`~lightning_clocks.basins.cli`: ``clocks basins``, the same on a run's saved checkpoints.

Importing this package imports nothing heavy; ``from lightning_clocks.basins import BasinCallback`` (the class
path a config names) imports Lightning on first use.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``BasinCallback`` on first use, so that ``clocks report`` can draw basin figures without Lightning."""
    if name == "BasinCallback":
        from lightning_clocks.basins.callback import BasinCallback

        return BasinCallback
    raise AttributeError(f"module 'lightning_clocks.basins' has no attribute {name!r}")


__all__ = ["BasinCallback"]
