"""Lightning callbacks that observe training on a schedule."""

from lightning_clocks.callbacks.clock import ClockCallback

__all__ = ["ClockCallback"]
