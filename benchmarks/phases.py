"""Where a ``clocks fit`` run spends its time, CPU and memory, phase by phase (issue 28).

Runs ``clocks fit`` in this process on a short cut of a config (the quickstart's first 300 steps by default, W&B
offline in a temporary folder) and charges every moment to one phase:

- ``imports``: importing the ``clocks`` command and the module of ``clocks fit`` (Lightning, torch, ...);
- ``set-up``: parsing, building the model, data and Trainer, until training starts (W&B excluded);
- ``training steps``: Lightning's loop, forward, backward, optimizer and ``self.log``;
- ``callback <Class>``: a callback's own hooks (``callback ClockCallback`` is the evaluations: sampling, metrics,
  curves.csv and clocks.json), ``progress bar`` for the progress bar;
- ``checkpoint saves``: ``Trainer.save_checkpoint`` (state gathering, serialization and the atomic write);
- ``W&B``: ``wandb.init``, logging, summary and config updates, the final table and ``finish``;
- ``CSV logger``: the CSV logger's writes;
- ``teardown``: after training, until ``clocks fit`` returns.

A phase nested in another (W&B inside an evaluation) is charged to the inner one only. Per phase it prints
the wall time, the CPU time (all threads), the number of times it was entered, and the peak resident memory
reached while in it (Linux: the peak is reset at each change of phase through ``/proc/self/clear_refs``).
CPU counts of one process on a loaded machine are far steadier than wall times; compare two commits by
running this script from this tree with ``PYTHONPATH`` pointing at the other tree and ``--entry`` naming its
module of ``clocks fit``.

    OMP_NUM_THREADS=1 python benchmarks/phases.py [--steps 300] [--config FILE] [--entry MODULE] [--write]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: Written to reset the process's peak resident memory (Linux >= 4.0).
CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class Cost:
    """What one phase cost: seconds of wall time and of CPU, times entered, peak resident memory in KiB."""

    wall: float = 0.0
    cpu: float = 0.0
    entries: int = 0
    peak_kib: int = 0


class PhaseClock:
    """Charges time, CPU and peak memory to the innermost phase entered; phases nest on a stack."""

    def __init__(self) -> None:
        self.costs: dict[str, Cost] = {}
        self.stack: list[str] = ["imports"]
        self.reset_peak = CLEAR_REFS.exists() and os.access(CLEAR_REFS, os.W_OK)
        self.last_wall, self.last_cpu = time.perf_counter(), time.process_time()

    def charge(self) -> None:
        """Charge the moments since the last change of phase to the current phase, and restart the peak."""
        wall, cpu = time.perf_counter(), time.process_time()
        cost = self.costs.setdefault(self.stack[-1], Cost())
        cost.wall += wall - self.last_wall
        cost.cpu += cpu - self.last_cpu
        cost.peak_kib = max(cost.peak_kib, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        if self.reset_peak:
            CLEAR_REFS.write_text("5")
        self.last_wall, self.last_cpu = time.perf_counter(), time.process_time()

    def switch(self, phase: str) -> None:
        """Leave the outermost phase for ``phase`` (the run's stages: set-up, training steps, teardown)."""
        self.charge()
        self.stack[0] = phase
        self.costs.setdefault(phase, Cost()).entries += 1

    def wrap(self, phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function``, with every call charged to ``phase``."""

        @functools.wraps(function)
        def charged(*args: Any, **kwargs: Any) -> Any:
            self.charge()
            self.stack.append(phase)
            self.costs.setdefault(phase, Cost()).entries += 1
            try:
                return function(*args, **kwargs)
            finally:
                self.charge()
                self.stack.pop()

        return charged

    def patch(self, owner: Any, name: str, phase: str) -> None:
        """Charge calls of ``owner.name`` (a class's method or a module's function) to ``phase``, if it exists."""
        if hasattr(owner, name):
            setattr(owner, name, self.wrap(phase, getattr(owner, name)))


def instrument(clock: PhaseClock) -> None:
    """Charge Lightning's stages, the callbacks, checkpoint saves and the loggers to their phases."""
    import wandb
    from lightning.pytorch import Callback, Trainer
    from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
    from lightning.pytorch.loggers import CSVLogger, WandbLogger
    from lightning.pytorch.trainer import call
    from wandb.sdk import wandb_config, wandb_run, wandb_summary

    call_hooks = call._call_callback_hooks

    def staged_call_hooks(trainer: Trainer, hook_name: str, *args: Any, **kwargs: Any) -> Any:
        if hook_name == "on_train_start":
            clock.switch("training steps")
            for callback in trainer.callbacks:
                instrument_callback(callback)
        elif hook_name == "on_train_end":
            clock.switch("teardown")
        return call_hooks(trainer, hook_name, *args, **kwargs)

    def instrument_callback(callback: Callback) -> None:
        """Charge the hooks that ``callback`` overrides to its phase (checkpoint saves are charged by the Trainer)."""
        if isinstance(callback, ModelCheckpoint):
            return
        phase = "progress bar" if isinstance(callback, ProgressBar) else f"callback {type(callback).__name__}"
        for name in dir(Callback):
            own = getattr(type(callback), name, None)
            if name.startswith("on_") and own is not getattr(Callback, name):
                setattr(callback, name, clock.wrap(phase, getattr(callback, name)))

    call._call_callback_hooks = staged_call_hooks
    clock.patch(Trainer, "save_checkpoint", "checkpoint saves")
    clock.patch(wandb, "init", "W&B")
    for owner, names in (
        (WandbLogger, ("log_metrics", "log_hyperparams", "log_table", "finalize", "after_save_checkpoint")),
        (wandb_run.Run, ("log", "finish", "define_metric")),
        (wandb_summary.Summary, ("__setitem__", "update")),
        (wandb_config.Config, ("update",)),
    ):
        for name in names:
            clock.patch(owner, name, "W&B")
    for name in ("log_metrics", "log_hyperparams", "save", "finalize"):
        clock.patch(CSVLogger, name, "CSV logger")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs/quickstart.yaml"))
    parser.add_argument("--steps", type=int, default=300, help="trainer.max_steps of the cut (default 300)")
    parser.add_argument(
        "--entry", default="lightning_clocks.fit", help="the module that runs `clocks fit` (for an older tree)"
    )
    parser.add_argument("--write", action="store_true", help="append the results to docs/performance.md")
    parser.add_argument("overrides", nargs="*", help="further `clocks fit` options, e.g. --trainer.logger=false")
    args = parser.parse_args()
    clock = PhaseClock()
    clock.costs["imports"] = Cost(entries=1)
    cli = importlib.import_module("lightning_clocks.cli")
    importlib.import_module(args.entry)
    clock.switch("set-up")
    instrument(clock)
    with tempfile.TemporaryDirectory() as folder:
        for variable in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
            os.environ[variable] = folder
        os.environ.setdefault("WANDB_MODE", "offline")
        fit = ["fit", f"--config={args.config}", f"--trainer.max_steps={args.steps}"]
        fit += [f"--trainer.default_root_dir={folder}/run", *args.overrides]
        try:
            cli.main(fit)
        except SystemExit as stop:
            if stop.code not in (0, None):
                raise
        import wandb

        wandb.finish()  # what the process's exit would do: close the offline run
        clock.charge()
    from report_table import publish  # imports torch: after the measured run

    costs = clock.costs.values()
    total = Cost(sum(cost.wall for cost in costs), sum(cost.cpu for cost in costs), 1, max(c.peak_kib for c in costs))
    rows = [
        (
            f"{phase}: wall s; CPU s; entered; peak RSS MiB",
            f"{cost.wall:.2f}; {cost.cpu:.2f}; {cost.entries}; {cost.peak_kib / 1024:.0f}",
        )
        for phase, cost in sorted(clock.costs.items(), key=lambda item: -item[1].cpu)
    ]
    rows.append(
        (
            "whole run: wall s; CPU s; steps; peak RSS MiB",
            f"{total.wall:.2f}; {total.cpu:.2f}; {args.steps}; {total.peak_kib / 1024:.0f}",
        )
    )
    command = "python benchmarks/phases.py " + " ".join(sys.argv[1:])
    publish(f"Phases of a {args.steps}-step cut of {Path(args.config).name}", command.strip(), rows, args.write)


if __name__ == "__main__":
    main()
