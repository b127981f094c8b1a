"""Lightning callbacks that observe training on a schedule."""

from lightning_clocks.callbacks.basins import BasinCallback
from lightning_clocks.callbacks.clock import ClockCallback

__all__ = ["BasinCallback", "ClockCallback"]
