"""The model, data and clock settings that ``clocks fit --config CONFIG`` would build, for benchmarks."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.data import RuleDataModule
from lightning_clocks.modules import GenerativeModule
from lightning_clocks.trainer_cli import run_cli

REPO = Path(__file__).resolve().parents[1]


@dataclass
class RunParts:
    """What one run of a config trains and evaluates."""

    module: GenerativeModule
    data: RuleDataModule
    clock: ClockCallback
    max_steps: int


def build_run(config: str | Path, *overrides: str, device: str = "cpu") -> RunParts:
    """Build a config's model (moved to ``device``), data (set up) and clock callback without training."""
    with tempfile.TemporaryDirectory() as folder:
        args = ["--config", str(config), f"--trainer.default_root_dir={folder}", "--trainer.logger=false", *overrides]
        cli = run_cli(args, run=False)
    clock = next(callback for callback in cli.trainer.callbacks if isinstance(callback, ClockCallback))
    cli.datamodule.setup("fit")
    return RunParts(cli.model.to(device), cli.datamodule, clock, cli.trainer.max_steps)


def timed_steps(
    parts: RunParts, steps: int, warmup: int = 5, autocast: torch.dtype | None = None, check_finite: bool = False
) -> tuple[float, list[float]]:
    """Plain-loop optimizer steps per second (forward, backward, AdamW at the config's settings) after
    ``warmup`` steps, and the losses of all steps. ``autocast`` runs the loss under that dtype;
    ``check_finite`` adds the training step's per-step host check of the loss."""
    module = parts.module
    device = module.device
    optimizer = module.configure_optimizers()["optimizer"]
    batches = iter(parts.data.train_dataloader())
    losses: list[torch.Tensor] = []
    synchronize: Callable[[], None] = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for index in range(steps + warmup):
        if index == warmup:
            synchronize()
            started = time.perf_counter()
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            loss = module.training_loss(next(batches).to(device, non_blocking=True))
        if check_finite and not bool(torch.isfinite(loss)):
            raise RuntimeError(f"non-finite loss at benchmark step {index}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    synchronize()
    return steps / (time.perf_counter() - started), [float(loss) for loss in losses]
