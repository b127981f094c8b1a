"""``clocks report``: per-run curves, sweep comparisons and scaling fits, as PNGs, report.html and summary.md."""

from lightning_clocks.report.cli import main

__all__ = ["main"]
