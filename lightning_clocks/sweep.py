"""``clocks sweep``: a grid over config keys and seeds on top of a base config (SPEC §3, §5).

Every point of the grid (times every seed) is one run of ``clocks fit`` in its own folder
``<out>/<run name>``, launched as a subprocess whose output goes to ``<run>/run.log``. When the
subprocess ends, its exit status is written to ``<run>/exit_code``; a run is *finished* when that
status is 0 and ``clocks.json`` exists. A second invocation of the same sweep skips finished runs
and resumes the others from their last checkpoint (every run is launched with
``--ckpt_path last``, which starts from scratch when there is no checkpoint yet).

Runs go either to a local runner (``--jobs K`` at once; with GPUs, each run sees one GPU through
``CUDA_VISIBLE_DEVICES``, spread evenly) or to a Slurm job array (``--slurm``): the sbatch script
holds one explicit command per array task, and is submitted when ``sbatch`` is on the PATH
(``--dry-run`` only writes it). Every run logs to W&B in the group named after the sweep
(``WANDB_RUN_GROUP``) under its run name; the full config, swept values included, reaches the W&B
config through ``clocks fit``.

The sweep folder holds ``sweep.json`` (what was asked: base config, grid, seeds, overrides, runs)
and ``sweep.csv`` (one row per run: swept values, seed, clocks, final metrics, status), rewritten
atomically whenever a run ends. This module does not import Lightning.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lightning_clocks.errors import ConfigError
from lightning_clocks.results import CLOCKS_FILE, atomic_write_text, write_json

SWEEP_FILE = "sweep.json"
SWEEP_TABLE = "sweep.csv"
SBATCH_FILE = "sweep.sbatch"
LOG_FILE = "run.log"
EXIT_FILE = "exit_code"

FINISHED, FAILED, INCOMPLETE, PENDING = "finished", "failed", "incomplete", "pending"

#: Runs sharing one GPU at once unless --runs-per-gpu says otherwise. One until a benchmark on the
#: target GPU shows more total throughput with more (benchmarks/settings.py measures k = 1, 2, 4, 8).
RUNS_PER_GPU = 1
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9.+-]+")


@dataclass(frozen=True)
class SweepRun:
    """One point of the grid with one seed: its folder name, swept values and seed."""

    name: str
    values: dict[str, str]
    seed: int | None

    def overrides(self) -> list[str]:
        """The command-line overrides that make this run: swept values, then the seed (model and data)."""
        arguments = [f"--{key}={value}" for key, value in self.values.items()]
        if self.seed is not None:
            arguments += [f"--seed_everything={self.seed}", f"--data.seed={self.seed}"]
        return arguments


def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
    """``["data.n_train=128,256", ...]`` -> ``{"data.n_train": ["128", "256"], ...}``, in the order given."""
    grid: dict[str, list[str]] = {}
    for spec in specs:
        key, separator, values_text = spec.partition("=")
        key = key.strip().removeprefix("--")
        values = [value.strip() for value in values_text.split(",")]
        if not separator or not key or not all(values):
            raise ConfigError(f"--grid {spec!r} is invalid: write KEY=VALUE1,VALUE2,... (e.g. data.n_train=128,256)")
        if key in grid:
            raise ConfigError(f"--grid names {key!r} twice; give all its values in one --grid {key}=...")
        if key in ("seed_everything", "data.seed"):
            raise ConfigError(f"--grid {key}=... is not allowed: sweep seeds with --seeds, which sets both seeds")
        if len(set(values)) != len(values):
            raise ConfigError(f"--grid {spec!r} repeats a value; each value must appear once")
        grid[key] = values
    return grid


def parse_seeds(text: str | None) -> list[int | None]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; no text means one run per grid point with the base config's seeds."""
    if text is None:
        return [None]
    try:
        seeds = [int(seed) for seed in text.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds={text!r} is invalid: give comma-separated integers, e.g. 0,1,2") from None
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds={text!r} repeats a seed; each seed must appear once")
    return list(seeds)


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """The shortest dotted suffix of each key that no other key shares (``data.rule.group_size`` -> ``group_size``)."""
    names: dict[str, str] = {}
    for key in keys:
        parts = key.split(".")
        for length in range(1, len(parts) + 1):
            suffix = ".".join(parts[-length:])
            if not any(other != key and (other == suffix or other.endswith("." + suffix)) for other in keys):
                break
        names[key] = suffix
    return names


def run_name(values: Mapping[str, str], seed: int | None, names: Mapping[str, str]) -> str:
    """A folder and W&B run name such as ``n_train-128_group_size-3_seed-0`` (``base`` for an empty grid)."""
    parts = [f"{names[key]}-{_UNSAFE_NAME_CHARACTERS.sub('~', value)}" for key, value in values.items()]
    if seed is not None:
        parts.append(f"seed-{seed}")
    return "_".join(parts) or "base"


def expand_grid(grid: Mapping[str, Sequence[str]], seeds: Sequence[int | None]) -> list[SweepRun]:
    """Every combination of the grid's values, times every seed (the seed varies fastest)."""
    names = short_keys(list(grid))
    runs = []
    for combination in itertools.product(*grid.values()):
        values = dict(zip(grid, combination, strict=True))
        runs.extend(SweepRun(run_name(values, seed, names), values, seed) for seed in seeds)
    duplicates = sorted({run.name for run in runs if sum(other.name == run.name for other in runs) > 1})
    if duplicates:
        raise ConfigError(f"--grid values give runs the same folder name {duplicates}; make the values distinct")
    return runs


def fit_command(config: str, run: SweepRun, run_dir: Path, extra: Sequence[str]) -> list[str]:
    """The ``clocks fit`` command of one run (``--ckpt_path last`` resumes it if it has a checkpoint)."""
    return [
        sys.executable,
        "-m",
        "lightning_clocks.cli",
        "fit",
        f"--config={config}",
        *run.overrides(),
        *extra,
        f"--trainer.default_root_dir={run_dir}",
        "--ckpt_path=last",
    ]


def run_status(run_dir: Path) -> str:
    """``finished`` (exit 0 and clocks.json), ``failed`` (nonzero exit), ``incomplete`` (started, no exit
    status: running or killed), or ``pending`` (never started)."""
    exit_file = run_dir / EXIT_FILE
    if exit_file.exists():
        return FINISHED if exit_file.read_text().strip() == "0" and (run_dir / CLOCKS_FILE).exists() else FAILED
    return INCOMPLETE if (run_dir / LOG_FILE).exists() else PENDING


def table_rows(out: Path, runs: Sequence[SweepRun]) -> list[dict[str, object]]:
    """One row per run: name, status, swept values, seed, clocks and ``final_<metric>`` columns from clocks.json."""
    rows = []
    for run in runs:
        run_dir = out / run.name
        row: dict[str, object] = {"run": run.name, "status": run_status(run_dir), **run.values, "seed": run.seed}
        clocks_file = run_dir / CLOCKS_FILE
        if clocks_file.exists():
            summary = json.loads(clocks_file.read_text())
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


def write_csv(path: Path, rows: Sequence[Mapping[str, object]], leading: Sequence[str]) -> None:
    """Write ``rows`` as CSV atomically: the ``leading`` columns first, then every other column sorted."""
    columns = [*leading, *sorted({name for row in rows for name in row} - set(leading))]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def run_environment(sweep_name: str, name: str, gpu: str | None, jobs: int) -> dict[str, str]:
    """The environment of one run: its W&B group and name; its one GPU when there are GPUs; and (unless
    ``OMP_NUM_THREADS`` is set) an equal share of the CPU cores, so that ``jobs`` runs do not oversubscribe them."""
    environment = {**os.environ, "WANDB_RUN_GROUP": sweep_name, "WANDB_NAME": name}
    if gpu is not None:
        environment["CUDA_VISIBLE_DEVICES"] = gpu
    if "OMP_NUM_THREADS" not in environment:
        environment["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return environment


def local_jobs(jobs: int | None, runs_per_gpu: int | None, gpus: Sequence[str]) -> int:
    """How many runs go at once: ``--jobs``; else ``--runs-per-gpu`` (default 1) times the GPUs; else, on CPU, one
    run per core, each with one thread (on 2 cores, 2 small runs at once trained 1.3-1.4x more steps per second in
    total than one run with 2 threads: docs/performance.md)."""
    if jobs is not None and runs_per_gpu is not None:
        raise ConfigError("give --jobs or --runs-per-gpu, not both: --jobs counts runs over all GPUs")
    for option, value in (("--jobs", jobs), ("--runs-per-gpu", runs_per_gpu)):
        if value is not None and value < 1:
            raise ConfigError(f"{option}={value} is invalid: it must be a positive integer")
    if runs_per_gpu is not None and not gpus:
        raise ConfigError("--runs-per-gpu needs a visible GPU and none is; on CPU, set --jobs")
    if jobs is not None:
        return jobs
    if gpus:
        return len(gpus) * (runs_per_gpu or RUNS_PER_GPU)
    return os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """Ids of the GPUs this machine's runs may use: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [gpu.strip() for gpu in visible.split(",") if gpu.strip() and gpu.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return [str(index) for index, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU ")]


def launch(command: Sequence[str], run_dir: Path, environment: Mapping[str, str]) -> int:
    """Run one command with its output appended to ``<run>/run.log``; record its exit status in ``exit_code``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / EXIT_FILE).unlink(missing_ok=True)
    with open(run_dir / LOG_FILE, "a") as log:
        log.write(f"$ {shlex.join(command)}\n")
        log.flush()
        returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=dict(environment)).returncode
    atomic_write_text(run_dir / EXIT_FILE, f"{returncode}\n")
    return returncode


def run_local(
    out: Path, runs: Sequence[SweepRun], commands: Mapping[str, list[str]], sweep_name: str, jobs: int
) -> list[SweepRun]:
    """Run every unfinished run, ``jobs`` at a time; returns the runs launched. A failed run stops nothing."""
    to_run = [run for run in runs if run_status(out / run.name) != FINISHED]
    gpus = visible_gpus()
    slots: queue.Queue[str | None] = queue.Queue()
    for index in range(jobs):
        slots.put(gpus[index % len(gpus)] if gpus else None)
    table_lock = threading.Lock()

    def execute(run: SweepRun) -> None:
        gpu = slots.get()
        try:
            device = f" on GPU {gpu}" if gpu is not None else ""
            print(f"[sweep] start {run.name}{device}", flush=True)
            returncode = launch(commands[run.name], out / run.name, run_environment(sweep_name, run.name, gpu, jobs))
            print(f"[sweep] {run.name}: {run_status(out / run.name)} (exit {returncode})", flush=True)
        finally:
            slots.put(gpu)
        with table_lock:
            write_table(out, runs)

    print(f"[sweep] {len(runs) - len(to_run)} of {len(runs)} runs already finished; launching {len(to_run)}")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(execute, to_run))
    return to_run


def sbatch_script(
    out: Path, runs: Sequence[SweepRun], commands: Mapping[str, list[str]], sweep_name: str, options: Sequence[str]
) -> str:
    """A Slurm job-array script: task i runs the i-th run's command unless that run has finished."""
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={sweep_name}",
        f"#SBATCH --array=0-{len(runs) - 1}",
        f"#SBATCH --output={out}/slurm-%A_%a.out",
        *(f"#SBATCH {option}" for option in options),
        "# Written by `clocks sweep --slurm`: one array task per run of the sweep.",
        f"cd {shlex.quote(str(Path.cwd()))}",
        f"export WANDB_RUN_GROUP={shlex.quote(sweep_name)}",
        "run() {  # usage: run RUN_DIR RUN_NAME COMMAND...",
        '  local run_dir="$1" name="$2"; shift 2',
        f'  if [ "$(cat "$run_dir/{EXIT_FILE}" 2>/dev/null)" = 0 ] && [ -f "$run_dir/{CLOCKS_FILE}" ]; then',
        '    echo "$name has finished already"; return 0',
        "  fi",
        f'  mkdir -p "$run_dir"; rm -f "$run_dir/{EXIT_FILE}"',
        f'  WANDB_NAME="$name" "$@" >> "$run_dir/{LOG_FILE}" 2>&1',
        f'  local status=$?; echo "$status" > "$run_dir/{EXIT_FILE}"; return "$status"',
        "}",
        'case "$SLURM_ARRAY_TASK_ID" in',
    ]
    for index, run in enumerate(runs):
        arguments = shlex.join([str(out / run.name), run.name, *commands[run.name]])
        lines.append(f"  {index}) run {arguments} ;;")
    lines += ['  *) echo "no run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;', "esac", ""]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clocks sweep",
        description="Run `clocks fit` over a grid of config values and seeds; write sweep.csv (one row per run).",
        epilog="Arguments after `--` go to every run unchanged, e.g. -- --trainer.max_steps=2000.",
    )
    parser.add_argument("--config", required=True, help="base config file of every run")
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a config key and its values (repeatable; the runs are every combination)",
    )
    parser.add_argument("--seeds", help="comma-separated seeds; each sets --seed_everything and --data.seed")
    parser.add_argument("--out", required=True, help="sweep folder; each run goes to <out>/<run name>")
    parser.add_argument("--name", help="sweep name: the W&B group and Slurm job name (default: the --out folder name)")
    parser.add_argument(
        "--jobs",
        type=int,
        help="runs at once on this machine (default: --runs-per-gpu per GPU; without GPUs, one per core)",
    )
    parser.add_argument(
        "--runs-per-gpu",
        type=int,
        help=f"runs sharing each GPU at once (default {RUNS_PER_GPU}); small models may fill a GPU better several "
        "at a time: measure it with benchmarks/settings.py",
    )
    parser.add_argument("--slurm", action="store_true", help="write a Slurm job-array script and submit it")
    parser.add_argument("--dry-run", action="store_true", help="with --slurm: write the script, do not submit it")
    parser.add_argument(
        "--sbatch-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="an extra #SBATCH line, e.g. --sbatch-option=--gres=gpu:1 (repeatable)",
    )
    return parser


def main(argv: list[str]) -> int:
    """``clocks sweep``: expand the grid, record it, run it (locally or on Slurm) and write sweep.csv."""
    own, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    args = build_parser().parse_args(own)
    if not Path(args.config).is_file():
        raise ConfigError(f"--config={args.config} is not a file")
    jobs = 1 if args.slurm else local_jobs(args.jobs, args.runs_per_gpu, visible_gpus())
    if args.dry_run and not args.slurm:
        raise ConfigError("--dry-run only applies to --slurm (it writes the sbatch script without submitting it)")
    out = Path(args.out).resolve()
    sweep_name = args.name or out.name
    config = str(Path(args.config).resolve())
    runs = expand_grid(parse_grid(args.grid), parse_seeds(args.seeds))
    commands = {run.name: fit_command(config, run, out / run.name, extra) for run in runs}
    write_json(
        out / SWEEP_FILE,
        {
            "name": sweep_name,
            "config": config,
            "grid": parse_grid(args.grid),
            "seeds": parse_seeds(args.seeds),
            "overrides": extra,
            "runs": [{"name": run.name, "values": run.values, "seed": run.seed} for run in runs],
        },
    )
    write_table(out, runs)
    if args.slurm:
        script = out / SBATCH_FILE
        atomic_write_text(script, sbatch_script(out, runs, commands, sweep_name, args.sbatch_option))
        if args.dry_run or shutil.which("sbatch") is None:
            reason = "--dry-run" if args.dry_run else "sbatch is not on the PATH"
            print(f"[sweep] wrote {script} ({len(runs)} array tasks); not submitted: {reason}")
            return 0
        return subprocess.run(["sbatch", str(script)], check=False).returncode
    run_local(out, runs, commands, sweep_name, jobs)
    rows = write_table(out, runs)
    failed = [row["run"] for row in rows if row["status"] != FINISHED]
    print(f"[sweep] wrote {out / SWEEP_TABLE}: {len(rows) - len(failed)} finished, {len(failed)} not: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
