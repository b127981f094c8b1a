"""Our costs against plain PyTorch, measured side by side in one run (issue 8).

1. Trainer overhead: steps/s of the Lightning path (callbacks off) over a plain loop with the same model,
   batches and optimizer; and the quickstart's wall time with the clock callback over without it.
   For the GPU configs (too slow to train here), the callback's share is estimated from its parts on this
   machine: one evaluation at the config's M against the config's steps times the measured step time.
2. Evaluation: copy_rate and control_copy_rate for M samples against N training rows of 36 bits; nn_distance
   on the same sizes, with its peak memory.
3. Sampling: GPT sampling with the KV cache over a full forward pass per token.

    python benchmarks/overhead.py [--write]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import lightning as L
import torch
from report_table import publish
from run_parts import REPO, build_run, timed_steps

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.metrics import CopyRate, NearestTrainingDistance, generation_metrics
from lightning_clocks.modules import AutoregressiveModule
from lightning_clocks.rows import RowSet

QUICKSTART = REPO / "configs/quickstart.yaml"


def plain_loop_seconds(steps: int) -> float:
    """The same training as ``clocks fit`` without Lightning: model, batches and AdamW."""
    rate, _ = timed_steps(build_run(QUICKSTART), steps, warmup=0)
    return steps / rate


def lightning_seconds(steps: int, callbacks: list[L.Callback], run_dir: Path) -> float:
    parts = build_run(QUICKSTART)
    trainer = L.Trainer(
        max_steps=steps,
        max_epochs=-1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        default_root_dir=run_dir,
    )
    started = time.perf_counter()
    trainer.fit(parts.model, datamodule=parts.data)
    return time.perf_counter() - started


def copy_rate_seconds(num_samples: int, num_train: int) -> tuple[float, float]:
    """Seconds to build the training-set index and to compute both copy rates for ``num_samples`` samples."""
    generator = torch.Generator().manual_seed(0)
    train = torch.randint(0, 2, (num_train, 36), generator=generator)
    control = torch.randint(0, 2, (num_train, 36), generator=generator)
    samples = torch.cat([train[: num_samples // 2], torch.randint(0, 2, (num_samples // 2, 36), generator=generator)])
    started = time.perf_counter()
    copy_rate, control_copy_rate = CopyRate(RowSet(train, 2)), CopyRate(RowSet(control, 2))
    built = time.perf_counter() - started
    started = time.perf_counter()
    copy_rate.update(samples)
    control_copy_rate.update(samples)
    rates = float(copy_rate.compute()), float(control_copy_rate.compute())
    assert rates[0] >= 0.5
    return built, time.perf_counter() - started


def nearest_distance_cost(num_samples: int, num_train: int) -> tuple[float, float]:
    """Seconds of nn_distance for M samples (half of them copies) against N rows of 36 bits, and the peak
    resident memory it adds, in MiB (indexing the training rows included). Run in a fresh process."""
    generator = torch.Generator().manual_seed(0)
    train = torch.randint(0, 2, (num_train, 36), generator=generator)
    samples = torch.cat([train[: num_samples // 2], torch.randint(0, 2, (num_samples // 2, 36), generator=generator)])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    nearest = NearestTrainingDistance(RowSet(train, 2))
    nearest.update(samples)
    assert float(nearest.compute()["near_copy_rate"]) >= 0.5
    seconds = time.perf_counter() - started
    return seconds, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def clock_share_from_parts(config: Path, sample_subset: int = 256) -> tuple[float, float, float]:
    """For a config too slow to train here: seconds per training step, seconds per evaluation at the config's M
    (timed on ``sample_subset`` samples and scaled linearly, plus indexing the training set once), and the
    implied wall time with / without the clock callback over the config's whole run."""
    parts = build_run(config)
    steps_per_second, _ = timed_steps(parts, steps=10, warmup=2)
    started = time.perf_counter()
    metrics = generation_metrics(parts.data.rule, parts.data.train_set, parts.data.control_set)
    indexing = time.perf_counter() - started
    subset = min(sample_subset, parts.clock.num_samples)
    started = time.perf_counter()
    metrics.update(parts.model.generate(subset, torch.Generator().manual_seed(0), batch_size=subset))
    metrics.compute()
    evaluation = (time.perf_counter() - started) * parts.clock.num_samples / subset
    training = parts.max_steps / steps_per_second
    ratio = (training + indexing + parts.clock.num_evaluations * evaluation) / training
    return 1 / steps_per_second, evaluation, ratio


@torch.no_grad()
def sampling_seconds(num_samples: int, length: int) -> tuple[float, float]:
    """GPT sampling with the KV cache, and with a full forward pass over the prefix per token."""
    module = AutoregressiveModule(sequence_length=length, vocab_size=2, n_layer=2, n_head=4, n_embd=64).eval()
    uniforms = torch.rand(num_samples, length, generator=torch.Generator().manual_seed(0))
    started = time.perf_counter()
    cached = module.gpt.generate(uniforms)
    with_cache = time.perf_counter() - started
    started = time.perf_counter()
    tokens = torch.full((num_samples, 1), module.gpt.bos_token)
    for position in range(length):
        cdf = torch.softmax(module.gpt(tokens)[:, -1].float(), dim=-1).cumsum(dim=-1)
        token = (cdf < uniforms[:, position : position + 1]).sum(dim=-1, keepdim=True).clamp(max=1)
        tokens = torch.cat([tokens, token], dim=1)
    without_cache = time.perf_counter() - started
    assert torch.equal(tokens[:, 1:], cached)
    return with_cache, without_cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="append the results to docs/performance.md")
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as fresh:
        nearest_seconds, nearest_peak = fresh.submit(nearest_distance_cost, 10_000, 1_000_000).result()
    with tempfile.TemporaryDirectory() as folder:
        plain = plain_loop_seconds(args.steps)
        bare = lightning_seconds(args.steps, [], Path(folder) / "bare")
        clock = ClockCallback(num_evaluations=25, first_step=10, num_samples=512, sample_batch_size=512)
        with_clock = lightning_seconds(args.steps, [clock], Path(folder) / "clock")
    build, rates = copy_rate_seconds(10_000, 1_000_000)
    cached, uncached = sampling_seconds(2048, 36)
    step, evaluation, dit_ratio = clock_share_from_parts(REPO / "configs/parity_dit.yaml")
    rows = [
        (f"plain loop, {args.steps} quickstart steps (s)", f"{plain:.1f} ({args.steps / plain:.0f} steps/s)"),
        ("Lightning, callbacks off (s)", f"{bare:.1f} ({args.steps / bare:.0f} steps/s)"),
        ("ratio of steps/s, Lightning / plain (target >= 0.95)", f"{plain / bare:.2f}"),
        ("Lightning with the clock callback, 25 evaluations of 512 samples (s)", f"{with_clock:.1f}"),
        ("wall time with / without the clock callback (target <= 1.10)", f"{with_clock / bare:.2f}"),
        (
            "parity_dit.yaml on this CPU: s per training step; s per evaluation (M = 2048, 18 Heun steps)",
            f"{step:.3f}; {evaluation:.1f}",
        ),
        (
            "parity_dit.yaml: implied wall time with / without the callback (200k steps, 40 evaluations)",
            f"{dit_ratio:.3f}",
        ),
        ("index 1,000,000 training rows of 36 bits, once per run (s)", f"{build:.2f}"),
        ("copy_rate + control_copy_rate, M = 10,000 vs N = 1,000,000 (s, target <= 0.5)", f"{rates:.3f}"),
        (
            "nn_distance, M = 10,000 (half copies) vs N = 1,000,000 (s); peak memory added (MiB)",
            f"{nearest_seconds:.1f}; {nearest_peak:.0f}",
        ),
        ("GPT sampling, M = 2048, L = 36, KV cache (s)", f"{cached:.2f}"),
        ("GPT sampling without cache (s); speed-up (target >= 3)", f"{uncached:.2f}; {uncached / cached:.1f}x"),
    ]
    publish("Overheads against plain PyTorch", "python benchmarks/overhead.py --write", rows, args.write)


if __name__ == "__main__":
    main()
