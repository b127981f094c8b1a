"""lightning_clocks: measure the rule clock and the memorization clock of generative models.

``clocks --help`` lists the commands; docs/method.md defines what they measure.
"""

#: The package version: the one place it is written (pyproject.toml reads it from here).
__version__ = "0.1.0"
