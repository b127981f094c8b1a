"""``clocks sweep``: runs of ``clocks fit`` over a grid of config values and seeds.

:mod:`~lightning_clocks.sweep.grid` expands the grid into named runs, :mod:`~lightning_clocks.sweep.local` runs
them on this machine, :mod:`~lightning_clocks.sweep.slurm` writes a Slurm job array,
:mod:`~lightning_clocks.sweep.status` reads the runs' statuses from their folders, and
:mod:`~lightning_clocks.sweep.cli` is the command. Nothing here imports Lightning.
"""
