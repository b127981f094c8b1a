"""Our costs against plain PyTorch, measured side by side in one run (issue 8).

1. Trainer overhead: steps/s of the Lightning path (callbacks off) over a plain loop with the same model,
   batches and optimizer; and the quickstart's wall time with the clock callback over without it.
2. Evaluation: copy_rate and control_copy_rate for M samples against N training rows of 36 bits.
3. Sampling: GPT sampling with the KV cache over a full forward pass per token.

    python benchmarks/overhead.py [--write]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightning as L
import torch
from report_table import publish

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.data import RuleDataModule
from lightning_clocks.metrics import CopyRate
from lightning_clocks.modules import AutoregressiveModule
from lightning_clocks.rules import GroupParity

REPO = Path(__file__).resolve().parents[1]


def quickstart_parts() -> tuple[AutoregressiveModule, RuleDataModule]:
    L.seed_everything(0, verbose=False)
    module = AutoregressiveModule(sequence_length=24, vocab_size=2, n_layer=2, n_head=4, n_embd=64, lr=1e-3)
    return module, RuleDataModule(GroupParity(24, 3), n_train=256, batch_size=64, seed=0)


def plain_loop_seconds(steps: int) -> float:
    """The same training as ``clocks fit`` without Lightning: model, batches and AdamW."""
    module, data = quickstart_parts()
    data.setup("fit")
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0)
    batches = iter(data.train_dataloader())
    started = time.perf_counter()
    for _ in range(steps):
        loss = module.training_loss(next(batches))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def lightning_seconds(steps: int, callbacks: list[L.Callback], run_dir: Path) -> float:
    module, data = quickstart_parts()
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
    trainer.fit(module, datamodule=data)
    return time.perf_counter() - started


def copy_rate_seconds(num_samples: int, num_train: int) -> tuple[float, float]:
    """Seconds to build the training-set index and to compute both copy rates for ``num_samples`` samples."""
    generator = torch.Generator().manual_seed(0)
    train = torch.randint(0, 2, (num_train, 36), generator=generator)
    control = torch.randint(0, 2, (num_train, 36), generator=generator)
    samples = torch.cat([train[: num_samples // 2], torch.randint(0, 2, (num_samples // 2, 36), generator=generator)])
    started = time.perf_counter()
    copy_rate, control_copy_rate = CopyRate(train, 2), CopyRate(control, 2)
    built = time.perf_counter() - started
    started = time.perf_counter()
    copy_rate.update(samples)
    control_copy_rate.update(samples)
    rates = float(copy_rate.compute()), float(control_copy_rate.compute())
    assert rates[0] >= 0.5
    return built, time.perf_counter() - started


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
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        plain = plain_loop_seconds(args.steps)
        bare = lightning_seconds(args.steps, [], Path(folder) / "bare")
        clock = ClockCallback(num_evaluations=25, first_step=10, num_samples=512, sample_batch_size=512)
        with_clock = lightning_seconds(args.steps, [clock], Path(folder) / "clock")
    build, rates = copy_rate_seconds(10_000, 1_000_000)
    cached, uncached = sampling_seconds(2048, 36)
    rows = [
        (f"plain loop, {args.steps} quickstart steps (s)", f"{plain:.1f} ({args.steps / plain:.0f} steps/s)"),
        ("Lightning, callbacks off (s)", f"{bare:.1f} ({args.steps / bare:.0f} steps/s)"),
        ("ratio of steps/s, Lightning / plain (target >= 0.95)", f"{plain / bare:.2f}"),
        ("Lightning with the clock callback, 25 evaluations of 512 samples (s)", f"{with_clock:.1f}"),
        ("wall time with / without the clock callback (target <= 1.10)", f"{with_clock / bare:.2f}"),
        ("index 1,000,000 training rows of 36 bits, once per run (s)", f"{build:.2f}"),
        ("copy_rate + control_copy_rate, M = 10,000 vs N = 1,000,000 (s, target <= 0.5)", f"{rates:.3f}"),
        ("GPT sampling, M = 2048, L = 36, KV cache (s)", f"{cached:.2f}"),
        ("GPT sampling without cache (s); speed-up (target >= 3)", f"{uncached:.2f}; {uncached / cached:.1f}x"),
    ]
    publish("Overheads against plain PyTorch", "python benchmarks/overhead.py --write", rows, args.write)


if __name__ == "__main__":
    main()
