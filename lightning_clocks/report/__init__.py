"""``clocks report``: per-run curves, sweep comparisons and scaling fits, as PNGs, report.html and summary.md.

``runs`` loads run and sweep folders, ``scaling`` fits the scaling laws, ``analysis`` decides what the runs
support, ``figures`` and ``pages`` draw and write, and ``cli`` is the command.
"""
