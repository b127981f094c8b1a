"""lightning_clocks: measure the rule clock and the memorization clock of generative models."""

__version__ = "0.1.0"
