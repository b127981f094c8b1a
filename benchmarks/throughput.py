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
from run_parts import REPO, build_run, timed_steps

from lightning_clocks.modules import GenerativeModule

QUICKSTART = REPO / "configs/quickstart.yaml"
CPU_DIT = REPO / "configs/cpu/group_parity_dit.yaml"


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
    gpt, dit = build_run(QUICKSTART), build_run(CPU_DIT)
    rows = [
        ("GPT 2x64, 24-bit parity, batch 64: training steps/s", f"{timed_steps(gpt, 200)[0]:.1f}"),
        ("GPT: seconds to sample 512 sequences (KV cache)", f"{sampling_seconds(gpt.model, 512):.2f}"),
        ("DiT 2x64, 12-bit parity, batch 64: training steps/s", f"{timed_steps(dit, 200)[0]:.1f}"),
    ]
    for sampler_steps in (5, 10, 18, 36):
        sampler = build_run(CPU_DIT, f"--model.init_args.sampler_steps={sampler_steps}").model
        rows.append(
            (
                f"DiT: seconds to sample 512 sequences, model.sampler_steps={sampler_steps} "
                f"({2 * sampler_steps - 1} network passes)",
                f"{sampling_seconds(sampler, 512):.2f}",
            )
        )
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
