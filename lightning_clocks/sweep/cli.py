"""``clocks sweep``: a grid over config keys and seeds on top of a base config.

Every point of the grid (times every seed) is one run of ``clocks fit`` in its own folder
``<out>/<run name>``, launched as a subprocess whose output goes to ``<run>/run.log``. A run is
*finished* when its exit status is 0 and ``clocks.json`` exists. A second invocation of the same
sweep skips finished runs and resumes the others from their last checkpoint (every run is launched
with ``--ckpt_path last``, which starts from scratch when there is no checkpoint yet).

Runs go either to the local runner (:mod:`lightning_clocks.sweep.local`) or to a Slurm job array
(:mod:`lightning_clocks.sweep.slurm`, ``--slurm=true``), submitted when ``sbatch`` is on the PATH
(``--dry_run=true`` only writes it). Every run logs to W&B in the group named after the sweep
(``WANDB_RUN_GROUP``) under its run name; the full config, swept values included, reaches the W&B
config through ``clocks fit``.

The sweep folder holds ``sweep.json`` (what was asked: base config, grid, seeds, fit arguments, runs)
and ``sweep.csv`` (one row per run: swept values, seed, clocks, final metrics, status), rewritten
atomically whenever a run ends. This module does not import Lightning.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning_clocks.cli import command_parser, namespace_dict, parse_arguments, split_passthrough
from lightning_clocks.errors import ConfigError
from lightning_clocks.results import (
    CLOCKS_FILE,
    FINISHED,
    SBATCH_FILE,
    SWEEP_FILE,
    SWEEP_TABLE,
    atomic_write_text,
    read_json,
    run_status,
    write_csv,
    write_json,
)
from lightning_clocks.sweep.grid import SweepRun, check_grid, check_seeds, expand_grid
from lightning_clocks.sweep.local import local_jobs, run_local, visible_gpus
from lightning_clocks.sweep.slurm import sbatch_script


def fit_command(config: str, run: SweepRun, run_dir: Path, extra: Sequence[str]) -> list[str]:
    """The ``clocks fit`` command of one run (``--ckpt_path last`` resumes it if it has a checkpoint)."""
    return [
        sys.executable,
        "-m",
        "lightning_clocks",
        "fit",
        f"--config={config}",
        *run.overrides(),
        *extra,
        f"--trainer.default_root_dir={run_dir}",
        "--ckpt_path=last",
    ]


def table_rows(out: Path, runs: Sequence[SweepRun]) -> list[dict[str, object]]:
    """One row per run: name, status, swept values, seed, clocks and ``final_<metric>`` columns from clocks.json."""
    rows = []
    for run in runs:
        run_dir = out / run.name
        row: dict[str, object] = {"run": run.name, "status": run_status(run_dir), **run.values, "seed": run.seed}
        clocks_file = run_dir / CLOCKS_FILE
        if clocks_file.exists():
            summary = read_json(clocks_file)
            if run.seed is None:
                row["seed"] = summary.get("seed")
            for name in ("tau_rule", "tau_mem", "window_open", "window_log10", "steps_trained"):
                row[name] = summary.get(name)
            final_metrics = summary.get("final_metrics", {})
            row.update({f"final_{name}": value for name, value in final_metrics.items() if name != "step"})
        rows.append(row)
    return rows


def write_table(out: Path, runs: Sequence[SweepRun]) -> list[dict[str, object]]:
    """Rewrite ``<out>/sweep.csv`` atomically from the run folders; returns its rows."""
    rows = table_rows(out, runs)
    leading = ["run", "status", *runs[0].values, "seed", "tau_rule", "tau_mem", "window_open", "window_log10"]
    write_csv(out / SWEEP_TABLE, rows, leading)
    return rows


def sweep(
    base_config: Path,
    out: Path,
    grid: dict[str, list[Any]] | None = None,
    seeds: list[int] | None = None,
    name: str | None = None,
    jobs: int | None = None,
    runs_per_gpu: int | None = None,
    slurm: bool = False,
    dry_run: bool = False,
    sbatch_options: list[str] | None = None,
    fit_args: list[str] | None = None,
) -> int:
    """Run `clocks fit` over a grid of config values and seeds; write sweep.csv (one row per run).

    Args:
        base_config: the clocks fit config every run starts from.
        out: the sweep folder; each run goes to <out>/<run name>.
        grid: config keys and their values, e.g. '{data.n_train: [128, 256], data.rule.group_size: [2, 3]}'; the
            runs are every combination.
        seeds: seeds of every grid point, e.g. [0,1,2]; each sets seed_everything and data.seed (default: the base
            config's own).
        name: the sweep's name: its W&B group and Slurm job name (default: the out folder's name).
        jobs: runs at once on this machine (default: runs_per_gpu per GPU; without GPUs, one per core).
        runs_per_gpu: runs sharing each GPU at once (default 1); small models may fill a GPU better several at a
            time: measure it with benchmarks/settings.py.
        slurm: write a Slurm job-array script and submit it.
        dry_run: with slurm: write the script, do not submit it.
        sbatch_options: extra #SBATCH lines, e.g. [--gres=gpu:1].
        fit_args: clocks fit options for every run (on the command line: the arguments after --).
    """
    if not Path(base_config).is_file():
        raise ConfigError(f"base_config={base_config} is not a file")
    if dry_run and not slurm:
        raise ConfigError("dry_run=true only applies with slurm=true (it writes the sbatch script without submitting)")
    jobs = 1 if slurm else local_jobs(jobs, runs_per_gpu, visible_gpus())
    out = Path(out).resolve()
    sweep_name = name or out.name
    config = str(Path(base_config).resolve())
    checked_grid, checked_seeds = check_grid(grid or {}), check_seeds(seeds)
    runs = expand_grid(checked_grid, checked_seeds)
    extra = list(fit_args or [])
    commands = {run.name: fit_command(config, run, out / run.name, extra) for run in runs}
    write_json(
        out / SWEEP_FILE,
        {
            "name": sweep_name,
            "config": config,
            "grid": checked_grid,
            "seeds": checked_seeds,
            "overrides": extra,
            "runs": [{"name": run.name, "values": run.values, "seed": run.seed} for run in runs],
        },
    )
    write_table(out, runs)
    if slurm:
        script = out / SBATCH_FILE
        atomic_write_text(script, sbatch_script(out, runs, commands, sweep_name, sbatch_options or []))
        if dry_run or shutil.which("sbatch") is None:
            reason = "dry_run" if dry_run else "sbatch is not on the PATH"
            print(f"[sweep] wrote {script} ({len(runs)} array tasks); not submitted: {reason}")
            return 0
        return subprocess.run(["sbatch", str(script)], check=False).returncode
    run_local(out, runs, commands, sweep_name, jobs, on_run_end=lambda: write_table(out, runs))
    rows = write_table(out, runs)
    failed = [row["run"] for row in rows if row["status"] != FINISHED]
    print(f"[sweep] wrote {out / SWEEP_TABLE}: {len(rows) - len(failed)} finished, {len(failed)} not: {failed}")
    return 1 if failed else 0


def main(argv: Sequence[str]) -> int:
    """``clocks sweep``: parse the options (and the fit arguments after ``--``) and run the sweep."""
    own, passthrough = split_passthrough(argv)
    parser = command_parser("clocks sweep", (sweep.__doc__ or "").split("\n\n")[0])
    parser.add_function_arguments(sweep)
    arguments = namespace_dict(parse_arguments(parser, own))
    arguments["fit_args"] = [*(arguments.get("fit_args") or []), *passthrough]
    return sweep(**arguments)

