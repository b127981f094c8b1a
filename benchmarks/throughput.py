"""Training and sampling throughput of the CPU configs, and the quickstart's evaluation share.

Run by hand on a quiet machine; ``--write`` appends the results, with the machine and date, to
``docs/performance.md``::

    python benchmarks/throughput.py --write
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from report_table import publish

from lightning_clocks.data import RuleDataModule
from lightning_clocks.modules import AutoregressiveModule, DiffusionModule, GenerativeModule
from lightning_clocks.rules import GroupParity

REPO = Path(__file__).resolve().parents[1]


def training_steps_per_second(module: GenerativeModule, data: RuleDataModule, steps: int) -> float:
    """Plain-loop optimizer steps per second (forward, backward, AdamW), after 5 warm-up steps."""
    data.setup("fit")
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    batches = iter(data.train_dataloader())
    for index in range(steps + 5):
        if index == 5:
            started = time.perf_counter()
        loss = module.training_loss(next(batches))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps / (time.perf_counter() - started)


def sampling_seconds(module: GenerativeModule, num_samples: int) -> float:
    """Seconds to generate ``num_samples`` samples in one batch."""
    started = time.perf_counter()
    module.generate(num_samples, torch.Generator().manual_seed(0), batch_size=num_samples)
    return time.perf_counter() - started


def quickstart_run(max_steps: int) -> dict[str, float]:
    """Wall time of ``clocks fit`` on the quickstart config, and the seconds its evaluations took."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "lightning_clocks.cli",
                "fit",
                "--config",
                str(REPO / "configs/quickstart.yaml"),
                f"--trainer.default_root_dir={folder}/run",
                f"--trainer.max_steps={max_steps}",
                "--trainer.enable_progress_bar=false",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "WANDB_MODE": "offline"},
        )
        wall = time.perf_counter() - started
        summary = json.loads((Path(folder) / "run" / "clocks.json").read_text())
    return {
        "wall_s": wall,
        "evaluation_s": summary["evaluation_seconds"],
        "tau_rule": summary["tau_rule"],
        "tau_mem": summary["tau_mem"],
        "steps": summary["steps_trained"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="append the results to docs/performance.md")
    parser.add_argument("--quickstart-steps", type=int, default=6000)
    args = parser.parse_args()
    torch.manual_seed(0)
    gpt = AutoregressiveModule(sequence_length=24, vocab_size=2, n_layer=2, n_head=4, n_embd=64)
    gpt_data = RuleDataModule(GroupParity(24, 3), n_train=256, batch_size=64)
    dit = DiffusionModule(sequence_length=12, vocab_size=2, depth=2, width=64, heads=4, sampler_steps=18)
    dit_data = RuleDataModule(GroupParity(12, 2), n_train=16, batch_size=64)
    rows = [
        ("GPT 2x64, 24-bit parity, batch 64: training steps/s", f"{training_steps_per_second(gpt, gpt_data, 200):.1f}"),
        ("GPT: seconds to sample 512 sequences (KV cache)", f"{sampling_seconds(gpt, 512):.2f}"),
        ("DiT 2x64, 12-bit parity, batch 64: training steps/s", f"{training_steps_per_second(dit, dit_data, 200):.1f}"),
        ("DiT: seconds to sample 512 sequences (18 Heun steps)", f"{sampling_seconds(dit, 512):.2f}"),
    ]
    quick = quickstart_run(args.quickstart_steps)
    rows += [
        (f"quickstart ({quick['steps']} steps) wall time, s", f"{quick['wall_s']:.0f}"),
        (
            "quickstart: seconds in evaluation (share of wall time)",
            f"{quick['evaluation_s']:.1f} ({100 * quick['evaluation_s'] / quick['wall_s']:.0f}%)",
        ),
        ("quickstart: training steps/s including Lightning and evaluation", f"{quick['steps'] / quick['wall_s']:.1f}"),
        ("quickstart: tau_rule, tau_mem", f"{quick['tau_rule']:.0f}, {quick['tau_mem']}"),
    ]
    publish("Throughput", "python benchmarks/throughput.py --write", rows, args.write)


if __name__ == "__main__":
    main()
