"""Lightning callbacks that measure a model at scheduled steps: the base, and the clocks of generative models.

The EMA weights that every scheduled callback measures when ``--ema.decay`` is set are in
:mod:`lightning_clocks.callbacks.ema`. The basins callback is part of the basins feature
(:class:`lightning_clocks.basins.BasinCallback`), the pair task's clock callback part of
:mod:`lightning_clocks.relational`.
"""

from lightning_clocks.callbacks.clock import ClockCallback, CurveClockCallback
from lightning_clocks.callbacks.scheduled import ScheduledCallback

__all__ = ["ClockCallback", "CurveClockCallback", "ScheduledCallback"]
