"""Whole-process cost of a ``clocks fit`` cut against another tree, and Lightning against a plain loop (issue 28).

1. ``clocks fit --config CONFIG --trainer.max_steps=STEPS`` (W&B offline, in a temporary folder) run as a whole
   process from this tree and from ``--baseline`` (a worktree of an older commit, run with its own code), in
   alternating order (this tree first in odd pairs, the baseline first in even ones). Per run: CPU seconds
   (user + system, its waited-for child processes included) and peak resident memory from ``wait4``, and the
   clocks.
   It reports the median of the per-pair CPU ratios with their range, and the median peak memory of each side.
2. The quickstart's training steps in this process, Lightning (callbacks off) against a plain loop with the same
   model, batches and AdamW (``benchmarks/overhead.py``), alternating, with the median of the per-pair ratios of
   steps/s (wall) and of CPU seconds.

CPU seconds of one single-threaded process are the measure least disturbed by other work on the machine; wall
times are not. Run with ``OMP_NUM_THREADS=1`` on a shared machine, and report its load (printed).

    OMP_NUM_THREADS=1 python benchmarks/against.py --baseline ../old [--pairs 3] [--steps 1500] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run_parts import REPO


def clocks_fit(tree: Path, config: str, steps: int, folder: Path) -> tuple[float, float, str]:
    """CPU seconds, peak resident memory (MiB) and ``tau_rule / tau_mem`` of one ``clocks fit`` run of ``tree``."""
    run_dir = folder / f"run-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": str(tree), "WANDB_MODE": "offline"}
    for variable in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
        env[variable] = str(folder)
    command = [sys.executable, "-m", "lightning_clocks.cli", "fit", f"--config={config}"]
    command += [f"--trainer.max_steps={steps}", f"--trainer.default_root_dir={run_dir}"]
    log = run_dir.with_suffix(".log")
    with open(log, "wb") as stream:
        process = subprocess.Popen(command, cwd=tree, env=env, stdout=stream, stderr=stream)
        _, status, usage = os.wait4(process.pid, 0)  # the child's own resource usage, its waited children included
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"clocks fit in {tree} failed: {log.read_text()[-2000:]}")
    clocks = json.loads((run_dir / "clocks.json").read_text())
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, f"{clocks['tau_rule']} / {clocks['tau_mem']}"


def spread(values: list[float]) -> str:
    """``median (min-max)`` of ``values``."""
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a worktree of the commit to compare against")
    parser.add_argument("--config", default="configs/quickstart.yaml", help="relative to each tree")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="append the results to docs/performance.md")
    args = parser.parse_args()
    trees = {"this tree": REPO, "baseline": args.baseline.resolve()}
    runs: dict[str, list[tuple[float, float, str]]] = {name: [] for name in trees}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as folder:
        for pair in range(args.pairs):
            for name in trees if pair % 2 == 0 else reversed(trees):
                runs[name].append(clocks_fit(trees[name], args.config, args.steps, Path(folder)))
                print(name, runs[name][-1], f"load {os.getloadavg()[0]:.1f}", flush=True)
                loads.append(os.getloadavg()[0])
        trainer = trainer_pairs(args.pairs, args.steps, Path(folder))
    cpu_ratios = [ours[0] / theirs[0] for ours, theirs in zip(runs["this tree"], runs["baseline"], strict=True)]
    peaks = {name: statistics.median(run[1] for run in results) for name, results in runs.items()}
    rows = [
        (f"baseline tree: commit {git_head(trees['baseline'])}", str(trees["baseline"])),
        (f"this tree: commit {git_head(REPO)}", str(REPO)),
        (
            f"`clocks fit {args.config} --trainer.max_steps={args.steps}`: CPU s, this tree (median, min-max)",
            spread([run[0] for run in runs["this tree"]]),
        ),
        ("the same, baseline", spread([run[0] for run in runs["baseline"]])),
        ("CPU ratio this tree / baseline, per pair: median (min-max) (target <= 1.00)", spread(cpu_ratios)),
        (
            "peak RSS MiB, this tree / baseline (medians); ratio (target <= 1.05)",
            f"{peaks['this tree']:.1f} / {peaks['baseline']:.1f}; {peaks['this tree'] / peaks['baseline']:.3f}",
        ),
        (
            "tau_rule / tau_mem, this tree; baseline",
            f"{sorted({run[2] for run in runs['this tree']})}; {sorted({run[2] for run in runs['baseline']})}",
        ),
        *trainer,
        ("load average (1 min) during the runs: min-max", f"{min(loads):.1f}-{max(loads):.1f}"),
    ]
    from report_table import publish  # imports torch

    command = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python benchmarks/against.py " + " ".join(
        sys.argv[1:]
    )
    publish("Whole-process cost against an older commit and a plain loop", command, rows, args.write)


def trainer_pairs(pairs: int, steps: int, folder: Path) -> list[tuple[str, str]]:
    """Lightning (callbacks off) against the plain loop on the quickstart, ``pairs`` alternating pairs: the
    median ratios of steps/s and of CPU seconds (this process's, so including each side's set-up)."""
    from overhead import lightning_seconds, plain_loop_seconds

    wall_ratios, cpu_ratios = [], []
    for pair in range(pairs):
        measured = {}
        for side in ("plain", "lightning") if pair % 2 == 0 else ("lightning", "plain"):
            started = time.process_time()
            wall = plain_loop_seconds(steps) if side == "plain" else lightning_seconds(steps, [], folder / f"l{pair}")
            measured[side] = wall, time.process_time() - started
        wall_ratios.append(measured["plain"][0] / measured["lightning"][0])
        cpu_ratios.append(measured["lightning"][1] / measured["plain"][1])
        print("plain / lightning", measured, flush=True)
    return [
        (f"Lightning / plain loop, steps/s over {steps} steps (target >= 0.95)", spread(wall_ratios)),
        ("Lightning / plain loop, CPU seconds", spread(cpu_ratios)),
    ]


def git_head(tree: Path) -> str:
    """The short commit of ``tree`` (plus ``+changes`` when its work tree differs from it)."""
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "-uno"], capture_output=True, text=True)
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


if __name__ == "__main__":
    main()
