"""``clocks sweep``: a grid over config keys and seeds on top of a base config.

Every point of the grid (times every seed) is one run of ``clocks fit`` in its own folder
``<out>/<run name>``, launched as a subprocess whose output goes to ``<run>/run.log``. A run is
*finished* when its exit status is 0 and ``clocks.json`` exists. A second invocation of the same
sweep skips finished runs and resumes the others from their last checkpoint (every run is launched
with ``--ckpt_path last``, which starts from scratch when there is no checkpoint yet). A finished run trained
under a smaller ``trainer.max_steps`` than the sweep now asks is *extended*: reopened and resumed from its last
checkpoint up to the new limit (a resume may raise ``max_steps``: docs/method.md, "Resuming"), so a censored
sweep is lengthened by raising its ``--trainer.max_steps`` and running the same command again.

Runs go either to the local runner (:mod:`lightning_clocks.sweep.local`) or to a Slurm job array
(:mod:`lightning_clocks.sweep.slurm`, ``--slurm=true``), submitted when ``sbatch`` is on the PATH
(``--dry_run=true`` only writes it). Every run logs to W&B in the group named after the sweep
(``WANDB_RUN_GROUP``) under its run name; the full config, swept values included, reaches the W&B
config through ``clocks fit``.

The sweep folder holds ``sweep.json`` (what was asked: base config, grid, seeds, fit arguments, runs)
and ``sweep.csv`` (one row per run: swept values, seed, clocks, final metrics, status), rewritten
atomically whenever a run ends, when ``k/N done`` and the time left are printed. ``--shard=i/n`` runs every
n-th run on this machine (several machines share one sweep folder; each run's lock keeps them apart), and
``--status`` prints the runs' statuses (:mod:`~lightning_clocks.sweep.status`) and, given only the sweep folder,
rewrites ``sweep.csv`` from the run folders (each Slurm run calls it as it ends), without launching anything.
Options of the other runner (``--jobs`` with ``--slurm``, ``--runs_per_task`` without) are refused, never
ignored. This module does not import Lightning.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning_clocks.cli import command_parser, namespace_dict, parse_arguments, split_passthrough
from lightning_clocks.errors import ConfigError, RunInUse, check_folder_name, require_positive
from lightning_clocks.results import (
    CLOCKS_FILE,
    CONFIG_FILE,
    EXIT_FILE,
    FINISHED,
    RUNNING_ELSEWHERE,
    SBATCH_FILE,
    SWEEP_FILE,
    SWEEP_TABLE,
    atomic_write_text,
    read_json,
    run_status,
    write_csv,
    write_json,
)
from lightning_clocks.sweep.check import check_in_subprocess
from lightning_clocks.sweep.grid import (
    MAX_RUNS,
    SweepRun,
    asked_setting,
    check_grid,
    check_seeds,
    config_value,
    expand_grid,
    read_yaml,
)
from lightning_clocks.sweep.local import local_jobs, run_local, visible_gpus
from lightning_clocks.sweep.slurm import array_tasks, check_slurm_options, fit_devices, sbatch_script
from lightning_clocks.sweep.status import status_report


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


def max_steps_limit(value: Any) -> int | None:
    """A ``trainer.max_steps`` value (-1: no limit), None when it is not an integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def shorter_than_asked(run_dir: Path, asked: int | None) -> int | None:
    """The ``trainer.max_steps`` a finished run was trained under, when it is smaller than ``asked`` (-1, no limit,
    counts as larger than any); None when the run is not finished, not shorter, or either limit is unknown."""
    if asked is None or run_status(run_dir) != FINISHED:
        return None
    trained = max_steps_limit(config_value(read_yaml(run_dir / CONFIG_FILE), "trainer.max_steps"))
    if trained is None or trained == -1 or (asked != -1 and asked <= trained):
        return None
    return trained


def reopen_shorter_runs(out: Path, config: str, commands: dict[str, list[str]]) -> list[str]:
    """Reopen every finished run trained under a smaller ``trainer.max_steps`` than its command now asks: its exit
    status is removed, so both runners resume it from its last checkpoint up to the new limit; its curves and
    clocks stay until the resume rewrites them. Returns the names."""
    reopened = []
    for name, command in commands.items():
        asked = max_steps_limit(asked_setting(Path(config), command, "trainer.max_steps"))
        trained = shorter_than_asked(out / name, asked)
        if trained is None:
            continue
        (out / name / EXIT_FILE).unlink()
        print(
            f"[sweep] {out.name}/{name}: trained to max_steps={trained}, {asked} asked; "
            "extending it from its last checkpoint"
        )
        reopened.append(name)
    return reopened


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
    """Rewrite ``<out>/sweep.csv`` atomically from the run folders, holding ``<out>/.sweep.csv.lock`` so that runs
    ending together (Slurm array tasks, local runs) write one after the other, each from the latest folders; returns
    its rows."""
    with open(out / f".{SWEEP_TABLE}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = table_rows(out, runs)
        leading = ["run", "status", *runs[0].values, "seed", "tau_rule", "tau_mem", "window_open", "window_log10"]
        write_csv(out / SWEEP_TABLE, rows, leading)
    return rows


def parse_shard(shard: str | None) -> tuple[int, int]:
    """``i/n`` as ``(i, n)``: this machine runs every n-th run starting at the i-th (0 <= i < n); ``(0, 1)`` for
    all."""
    if shard is None:
        return 0, 1
    match = re.fullmatch(r"(\d+)/(\d+)", shard.strip())
    if match is None or not int(match[1]) < int(match[2]):
        raise ConfigError(f"shard={shard!r} is invalid; allowed: i/n with 0 <= i < n, e.g. 0/4")
    return int(match[1]), int(match[2])


def refuse_unused_options(slurm: bool, options: dict[str, object]) -> None:
    """A one-line ConfigError for an option that the chosen runner would ignore."""
    local_only = {
        "jobs": "with slurm=true every array task runs --runs_per_task runs at once; --max_concurrent limits tasks",
        "runs_per_gpu": "with slurm=true set --runs_per_task (runs sharing each array task's GPU)",
        "shard": "with slurm=true the job array spreads the runs; --shard is for local sweeps on several machines",
    }
    slurm_only = ("dry_run", "sbatch_options", "runs_per_task", "max_concurrent", "setup", "signal_seconds")
    for option, value in options.items():
        if slurm and option in local_only and value is not None:
            raise ConfigError(f"{option}={value!r} does not apply to a Slurm sweep: {local_only[option]}")
        if not slurm and option in slurm_only and value is not None:
            raise ConfigError(f"{option}={value!r} only applies with slurm=true (it configures the Slurm job array)")


def load_runs(out: Path) -> tuple[list[SweepRun], str]:
    """The runs and name of the sweep recorded in ``<out>/sweep.json``."""
    recorded = read_json(out / SWEEP_FILE)
    runs = [SweepRun(run["name"], run["values"], run["seed"]) for run in recorded["runs"]]
    return runs, str(recorded["name"])


def prepare(
    out: Path,
    sweep_name: str,
    config: str,
    grid: dict[str, list[str]],
    seeds: list[int | None],
    runs: Sequence[SweepRun],
    extra: Sequence[str],
    extend: bool = True,
) -> dict[str, list[str]]:
    """Check every grid point's config (one line if one is bad, nothing launched), reopen the finished runs shorter
    than now asked (:func:`reopen_shorter_runs`; not with ``extend=False``, which changes no run), write
    ``sweep.json`` and ``sweep.csv``, and return each run's ``clocks fit`` command (also used by ``clocks claims``,
    which runs the runs of several sweeps in one pool)."""
    # Every grid point once (seeds change no setting that could be refused).
    points = {tuple(sorted(run.values.items())): run for run in runs}.values()
    check_in_subprocess(config, {run.name: [*run.overrides(), *extra] for run in points})
    write_json(
        out / SWEEP_FILE,
        {
            "name": sweep_name,
            "config": config,
            "grid": grid,
            "seeds": seeds,
            "overrides": list(extra),
            "runs": [{"name": run.name, "values": run.values, "seed": run.seed} for run in runs],
        },
    )
    commands = {run.name: fit_command(config, run, out / run.name, extra) for run in runs}
    if extend:
        reopen_shorter_runs(out, config, commands)
    write_table(out, runs)
    return commands


def sweep(
    out: Path,
    base_config: Path | None = None,
    grid: dict[str, list[Any]] | None = None,
    seeds: list[int] | None = None,
    name: str | None = None,
    jobs: int | None = None,
    runs_per_gpu: int | None = None,
    shard: str | None = None,
    status: bool = False,
    slurm: bool = False,
    dry_run: bool | None = None,
    sbatch_options: list[str] | None = None,
    runs_per_task: int | None = None,
    max_concurrent: int | None = None,
    setup: list[str] | None = None,
    signal_seconds: int | None = None,
    fit_args: list[str] | None = None,
    max_runs: int = MAX_RUNS,
) -> int:
    """Run `clocks fit` over a grid of config values and seeds; write sweep.csv (one row per run). Running it again
    skips finished runs, resumes the others, and extends finished runs to a larger trainer.max_steps when one is
    asked (e.g. after -- --trainer.max_steps=...).

    Args:
        out: the sweep folder; each run goes to <out>/<run name>.
        base_config: the clocks fit config every run starts from (not needed with status=true).
        grid: config keys and their values, e.g. '{data.n_train: [128, 256], data.rule.group_size: [2, 3]}'; the
            runs are every combination.
        seeds: seeds of every grid point, e.g. [0,1,2]; each sets seed_everything and data.seed (default: the base
            config's own).
        name: the sweep's name: its W&B group and Slurm job name (default: the out folder's name).
        jobs: runs at once on this machine (default: runs_per_gpu per GPU; without GPUs, one per core).
        runs_per_gpu: runs sharing each GPU at once (default 1); small models may fill a GPU better several at a
            time: measure it with benchmarks/settings.py.
        shard: i/n: run only every n-th run, starting at the i-th, to spread a local sweep over n machines sharing
            the out folder (each run is locked while it trains).
        status: print every run's status (finished, failed, incomplete, pending, running, running elsewhere) and
            clocks, and launch nothing; without base_config, also rewrite the sweep's sweep.csv.
        slurm: write a Slurm job-array script and submit it.
        dry_run: with slurm: write the script, do not submit it.
        sbatch_options: with slurm: extra #SBATCH lines, e.g. [--gres=gpu:1,--time=04:00:00].
        runs_per_task: with slurm: runs of one array task, trained at once on its GPU (default 1).
        max_concurrent: with slurm: array tasks running at once (--array=0-T%K; default: no limit).
        setup: with slurm: shell lines run before the runs, e.g. ['module load cuda', 'source .venv/bin/activate'].
        signal_seconds: with slurm: seconds before the time limit at which a task saves its runs and requeues
            itself (default 90).
        fit_args: clocks fit options for every run (on the command line: the arguments after --).
        max_runs: the most runs (grid points x seeds) the sweep may have; a bigger grid is refused.
    """
    check_folder_name("out", out)
    require_positive("max_runs", max_runs)
    refuse_unused_options(
        slurm,
        {
            "jobs": jobs,
            "runs_per_gpu": runs_per_gpu,
            "shard": shard,
            "dry_run": dry_run,
            "sbatch_options": sbatch_options,
            "runs_per_task": runs_per_task,
            "max_concurrent": max_concurrent,
            "setup": setup,
            "signal_seconds": signal_seconds,
        },
    )
    out = Path(out).resolve()
    if status and base_config is None:
        if not (out / SWEEP_FILE).exists():
            raise ConfigError(f"out={out} holds no {SWEEP_FILE}; give --base_config (and the grid) or a sweep folder")
        runs, _ = load_runs(out)
        print(status_report(write_table(out, runs)))
        return 0
    if base_config is None or not Path(base_config).is_file():
        raise ConfigError(f"base_config={base_config} is not a file; give the clocks fit config of every run")
    shard_index, shard_count = parse_shard(shard)
    sweep_name = name or out.name
    check_slurm_options(
        out if slurm else None,
        sweep_name,
        sbatch_options or [],
        setup or [],
        runs_per_task,
        max_concurrent,
        signal_seconds,
    )
    jobs = 1 if slurm or status else local_jobs(jobs, runs_per_gpu, visible_gpus())
    config = str(Path(base_config).resolve())
    checked_grid, checked_seeds = check_grid(grid or {}), check_seeds(seeds)
    runs = expand_grid(checked_grid, checked_seeds, max_runs)
    if status:
        print(status_report(table_rows(out, runs)))
        return 0
    extra = list(fit_args or [])
    # A script only written (dry_run) reopens no run: nothing would train it.
    commands = prepare(out, sweep_name, config, checked_grid, checked_seeds, runs, extra, extend=not dry_run)
    devices = fit_devices(Path(config), extra, checked_grid) if slurm else 1
    if slurm:
        script = out / SBATCH_FILE
        per_task = 1 if runs_per_task is None else runs_per_task
        text = sbatch_script(
            out,
            runs,
            commands,
            sweep_name,
            sbatch_options or [],
            per_task,
            max_concurrent,
            setup or [],
            devices,
            90 if signal_seconds is None else signal_seconds,
        )
        atomic_write_text(script, text)
        tasks = len(array_tasks(runs, per_task))
        if dry_run or shutil.which("sbatch") is None:
            reason = "dry_run" if dry_run else "sbatch is not on the PATH"
            print(f"[sweep] wrote {script} ({len(runs)} runs in {tasks} array tasks); not submitted: {reason}")
            return 0
        return subprocess.run(["sbatch", str(script)], check=False).returncode
    mine = runs[shard_index::shard_count]
    if shard_count > 1:
        print(f"[sweep] shard {shard_index}/{shard_count}: {len(mine)} of {len(runs)} runs")
    run_local(out, mine, commands, sweep_name, jobs, on_run_end=lambda: write_table(out, runs))
    rows = write_table(out, runs)
    statuses = {str(row["run"]): row["status"] for row in rows}
    ours = [run.name for run in mine]
    elsewhere = [name for name in ours if statuses[name] == RUNNING_ELSEWHERE]
    failed = [name for name in ours if statuses[name] not in (FINISHED, RUNNING_ELSEWHERE)]
    print(
        f"[sweep] wrote {out / SWEEP_TABLE}: {len(ours) - len(failed) - len(elsewhere)} finished, "
        f"{len(elsewhere)} running elsewhere: {elsewhere}, {len(failed)} not finished: {failed}"
    )
    if failed:
        return 1
    return RunInUse.exit_status if elsewhere else 0


def main(argv: Sequence[str]) -> int:
    """``clocks sweep``: parse the options (and the fit arguments after ``--``) and run the sweep."""
    own, passthrough = split_passthrough(argv)
    parser = command_parser("clocks sweep", (sweep.__doc__ or "").split("\n\n")[0])
    parser.add_function_arguments(sweep)
    arguments = namespace_dict(parse_arguments(parser, own))
    arguments["fit_args"] = [*(arguments.get("fit_args") or []), *passthrough]
    return sweep(**arguments)
