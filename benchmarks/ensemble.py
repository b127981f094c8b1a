"""Training throughput per run: E seeds trained as one ensemble against E separate runs.

For each model and each ensemble size E, the same E seeds are trained twice with the same Trainer
settings (no clocks, no progress bar): as E separate runs one after another, and as one ensemble in
one process (``lightning_clocks.ensemble``). Throughput is optimizer steps summed over the runs per
second of wall time, timed after a warm-up; the ratio is the ensemble's speed-up. Run by hand on a
quiet machine; ``--write`` appends the table to ``docs/performance.md``::

    python benchmarks/ensemble.py [--steps 300] [--sizes 1,2,4,8] [--write]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
from report_table import publish
from run_parts import REPO

from lightning_clocks.ensemble.cli import build_members, build_trainer
from lightning_clocks.ensemble.module import EnsembleDataModule, EnsembleModule

#: The models measured, by name: the quickstart GPT and a CPU DiT.
CONFIGS = {
    "GPT (configs/quickstart.yaml)": REPO / "configs" / "quickstart.yaml",
    "DiT (configs/cpu/group_parity_dit.yaml)": REPO / "configs" / "cpu" / "group_parity_dit.yaml",
}


class StepTimer(L.Callback):
    """Wall seconds from the end of the first ``warmup`` optimizer steps to the end of training."""

    def __init__(self, warmup: int) -> None:
        super().__init__()
        self.warmup = warmup
        self.started = 0.0
        self.seconds = 0.0

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.warmup:
            self.started = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds = time.perf_counter() - self.started


def run_steps_per_second(config: Path, size: int, steps: int, warmup: int, folder: Path) -> tuple[float, float]:
    """Optimizer steps per second summed over ``size`` runs: as separate runs, and as one ensemble."""
    seeds = list(range(size))
    overrides = [
        f"--trainer.max_steps={steps}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
    ]
    separate_seconds = 0.0
    for member in build_members(config, seeds, overrides):
        timer = StepTimer(warmup)
        build_trainer(member, [timer], folder).fit(member.model, datamodule=member.data)
        separate_seconds += timer.seconds
    members = build_members(config, seeds, overrides)
    ensemble = EnsembleModule([member.model for member in members], [f"seed-{seed}" for seed in seeds])
    timer = StepTimer(warmup)
    data = EnsembleDataModule([member.data for member in members])
    build_trainer(members[0], [timer], folder).fit(ensemble, datamodule=data)
    timed_steps = size * (steps - warmup)
    return timed_steps / separate_seconds, timed_steps / timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="append the results to docs/performance.md")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=20, help="steps before the timing starts")
    parser.add_argument("--sizes", default="1,2,4,8", help="ensemble sizes E, comma-separated")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, config in CONFIGS.items():
            for size in (int(size) for size in args.sizes.split(",")):
                separate, ensemble = run_steps_per_second(config, size, args.steps, args.warmup, Path(folder))
                rows.append(
                    (
                        f"{name}, E = {size}: run-steps/s, separate runs / ensemble",
                        f"{separate:.0f} / {ensemble:.0f} ({ensemble / separate:.2f}x)",
                    )
                )
    command = f"python benchmarks/ensemble.py --steps {args.steps} --warmup {args.warmup} --sizes {args.sizes}"
    publish("Ensemble of seeds against separate runs", command, rows, args.write)


if __name__ == "__main__":
    main()
