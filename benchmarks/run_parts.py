"""The model, data and clock settings that ``clocks fit --config CONFIG`` would build, for benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from lightning_clocks.fit import RunParts
from lightning_clocks.fit import build_run as build_run_parts

REPO = Path(__file__).resolve().parents[1]


def build_run(config: str | Path, *overrides: str, device: str = "cpu") -> RunParts:
    """Build a config's model (moved to ``device``), data (set up) and clock callback without training
    (:func:`lightning_clocks.fit.build_run`, the one way every command rebuilds a run)."""
    parts = build_run_parts(config, overrides, prog="benchmark")
    parts.model.to(device)
    return parts


def timed_steps(
    parts: RunParts, steps: int, warmup: int = 5, autocast: torch.dtype | None = None, check_finite: bool = False
) -> tuple[float, list[float]]:
    """Plain-loop optimizer steps per second (forward, backward, AdamW at the config's settings) after
    ``warmup`` steps, and the losses of all steps. ``autocast`` runs the loss under that dtype;
    ``check_finite`` adds the training step's per-step host check of the loss."""
    module = parts.model
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
