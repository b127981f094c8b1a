"""Training speed of a config under each numeric setting, its FLOP rate, and concurrent runs per device (issue 8).

For each config, side by side in one process:

- steps/s of the training step (forward, backward, AdamW) in fp32, and where the device has them TF32, bf16
  autocast, ``torch.compile`` (``model.compile_mode``) and CUDA graphs (``compile_mode=reduce-overhead``);
- the mean loss of each setting's last quarter of steps next to fp32's: same initial weights, same batches,
  so a setting whose loss drifts away is not a correct one;
- FLOPs per step (``torch.utils.flop_counter``) and the achieved rate as a fraction of this device's measured
  peak (a large matmul in the same precision);
- the cost of the training step's per-step finiteness check (a host sync on a GPU);
- total steps/s of k runs sharing the device at once, each its own process (k = 1, 2, 4, 8 on a GPU).

Run by hand::

    python benchmarks/settings.py [--config configs/parity_dit.yaml --config configs/parity_gpt.yaml] [--write]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from report_table import publish
from run_parts import REPO, build_run, timed_steps
from torch.utils.flop_counter import FlopCounterMode

from lightning_clocks.sweep.local import run_environment, visible_gpus


@dataclass(frozen=True)
class Setting:
    """One way to run the same training step."""

    name: str
    overrides: tuple[str, ...] = ()
    autocast: torch.dtype | None = None
    tf32: bool = False
    gpu_only: bool = False


SETTINGS = (
    Setting("fp32"),
    Setting("TF32 matmuls", tf32=True, gpu_only=True),
    Setting("bf16 autocast", autocast=torch.bfloat16),
    Setting("torch.compile", ("--model.init_args.compile_mode=default",)),
    Setting("bf16 autocast + torch.compile", ("--model.init_args.compile_mode=default",), autocast=torch.bfloat16),
    Setting(
        "bf16 + compile with CUDA graphs",
        ("--model.init_args.compile_mode=reduce-overhead",),
        autocast=torch.bfloat16,
        gpu_only=True,
    ),
)


def peak_flops(device: torch.device, dtype: torch.dtype, tf32: bool) -> float:
    """Measured matmul FLOP/s of this device in ``dtype``: the best of a few large square products."""
    size = 8192 if device.type == "cuda" else 2048
    torch.backends.cuda.matmul.allow_tf32 = tf32
    left, right = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    best = float("inf")
    for _ in range(5):
        synchronize(device)
        started = time.perf_counter()
        left @ right
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flops_per_step(config: Path, device: torch.device) -> int:
    """FLOPs of one training loss, forward and backward, counted by torch's flop counter."""
    parts = build_run(config, device=str(device))
    batch = next(iter(parts.data.train_dataloader())).to(device)
    with FlopCounterMode(display=False) as counter:
        parts.model.training_loss(batch).backward()
    return counter.get_total_flops()


def measure_setting(config: Path, setting: Setting, device: torch.device, steps: int) -> tuple[float, float]:
    """Steps/s of ``setting`` and the mean loss over its last quarter of steps."""
    torch.backends.cuda.matmul.allow_tf32 = setting.tf32
    torch.backends.cudnn.allow_tf32 = setting.tf32
    parts = build_run(config, *setting.overrides, device=str(device))
    warmup = 20 if setting.overrides else 5
    rate, losses = timed_steps(parts, steps, warmup=warmup, autocast=setting.autocast)
    return rate, statistics.fmean(losses[-max(1, len(losses) // 4) :])


def concurrent_steps_per_second(config: Path, runs: int, seconds: float) -> float:
    """Total steps/s of ``runs`` processes training ``config`` at once (each warmed up, then started together),
    each in the environment ``clocks sweep`` gives its runs: the GPU (all on the first one) and cores / runs threads."""
    gpus = visible_gpus()
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", str(config), "--seconds", str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=run_environment("settings-benchmark", f"worker-{index}", gpus[0] if gpus else None, runs),
        )
        for index in range(runs)
    ]
    for worker in workers:
        if worker.stdout.readline().strip() != "ready":
            raise RuntimeError("a benchmark worker failed to start")
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    return sum(float(worker.communicate()[0].strip()) for worker in workers)


def worker(config: Path, seconds: float) -> None:
    """One of the concurrent runs: warm up, say ready, wait for go, then print its steps/s over ``seconds``."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    parts = build_run(config, device=device)
    probe_rate, _ = timed_steps(parts, steps=10)
    print("ready", flush=True)
    sys.stdin.readline()
    steps = max(10, int(probe_rate * seconds))
    rate, _ = timed_steps(parts, steps, warmup=0)
    print(rate, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", type=Path, help="config to measure (repeatable)")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per setting")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds each concurrent run trains")
    parser.add_argument("--max-runs", type=int, help="largest k of concurrent runs (default 8 on a GPU, 2 on CPU)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help="append the results to docs/performance.md")
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.seconds)
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    default_configs = ("parity_dit.yaml", "parity_gpt.yaml") if device.type == "cuda" else ("quickstart.yaml",)
    configs = args.config or [REPO / "configs" / name for name in default_configs]
    settings = [setting for setting in SETTINGS if device.type == "cuda" or not setting.gpu_only]
    peaks = {
        "fp32": peak_flops(device, torch.float32, tf32=False),
        "tf32": peak_flops(device, torch.float32, tf32=True),
        "bf16": peak_flops(device, torch.bfloat16, tf32=False),
    }
    rows = [(f"measured matmul peak, {name} (TFLOP/s)", f"{peak / 1e12:.2f}") for name, peak in peaks.items()]
    for config in configs:
        name = config.name
        flops = flops_per_step(config, device)
        rows.append((f"{name}: GFLOPs per training step", f"{flops / 1e9:.2f}"))
        baseline_rate = 0.0
        for setting in settings:
            rate, loss = measure_setting(config, setting, device, args.steps)
            baseline_rate = baseline_rate or rate
            precision = "bf16" if setting.autocast is not None else "tf32" if setting.tf32 else "fp32"
            rows.append(
                (
                    f"{name}, {setting.name}: steps/s (x fp32); late loss; share of {precision} peak",
                    f"{rate:.1f} ({rate / baseline_rate:.2f}x); {loss:.4f}; {flops * rate / peaks[precision]:.1%}",
                )
            )
        parts = build_run(config, device=str(device))
        unchecked, _ = timed_steps(parts, args.steps)
        checked, _ = timed_steps(parts, args.steps, check_finite=True)
        rows.append(
            (f"{name}, fp32: steps/s without / with the per-step finiteness check", f"{unchecked:.1f} / {checked:.1f}")
        )
        max_runs = args.max_runs or (8 if device.type == "cuda" else 2)
        single = 0.0
        for runs in (1, 2, 4, 8):
            if runs > max_runs:
                break
            total = concurrent_steps_per_second(config, runs, args.seconds)
            single = single or total
            rows.append(
                (f"{name}: {runs} concurrent runs, total steps/s (x one run)", f"{total:.1f} ({total / single:.2f}x)")
            )
    command = "python benchmarks/settings.py " + " ".join(f"--config {config}" for config in configs)
    publish(f"Numeric settings and concurrent runs on {device_name(device)}", command, rows, args.write)


def device_name(device: torch.device) -> str:
    """The accelerator's name, or ``CPU``."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


if __name__ == "__main__":
    main()
