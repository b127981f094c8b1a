"""``clocks ensemble``: several seeds of one config trained in one process with stacked parameters.

:mod:`~lightning_clocks.ensemble.module` holds the stacked model, data and clocks; :mod:`~lightning_clocks.ensemble.cli`
the command.
"""
