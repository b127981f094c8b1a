"""``python -m lightning_clocks ...`` behaves as ``clocks ...``."""

from lightning_clocks.cli import main

main()
