"""A sweep as a Slurm job array: each array task runs its share of the runs, resumes them after pre-emption.

Array task ``i`` runs the runs ``i*R .. i*R+R-1`` (``R = --runs_per_task``) at once on the task's GPU, each
in its own folder with its own ``run.log`` and ``exit_code``; a finished run is skipped. ``--max_concurrent=K``
lets at most K tasks run at once (``--array=0-T%K``). ``--setup`` lines (module loads, activating an
environment) run first; ``OMP_NUM_THREADS`` defaults to the task's CPUs shared among its runs, and each run
gets it as ``--threads``.

Pre-emption and time limits: the script asks Slurm for a warning signal ``--signal_seconds`` before the end and
is ``--requeue``-able.

* A task whose runs use one device each gets the signal in its batch shell (``--signal=B:USR1@S``); the shell
  sends SIGTERM to every run, each stops at its next step and saves ``last.ckpt`` (exit 143, no ``exit_code``
  written, so the run stays incomplete), and once all have saved the shell requeues the task. Lightning's own
  auto-requeue is not used here: the first run to call ``scontrol requeue`` would end its task while the others
  are still saving.
* A run with ``trainer.devices > 1`` is one task of ``srun`` with ``--ntasks-per-node`` = devices (as Lightning
  requires); the signal goes to the ranks (``--signal=USR1@S``) and Lightning's SLURMEnvironment saves
  ``hpc_ckpt_<n>.ckpt`` and requeues the task.

Either way the requeued task starts every unfinished run again with ``--ckpt_path last``, which picks the newest
intact checkpoint, ``hpc_ckpt_*`` files included. Nothing here imports Lightning.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from lightning_clocks.errors import ConfigError
from lightning_clocks.results import CLOCKS_FILE, EXIT_FILE, LOG_FILE
from lightning_clocks.sweep.grid import SweepRun
from lightning_clocks.sweep.local import sets_threads


def check_line(option: str, value: str) -> None:
    """Refuse a value that would break the script's lines (a newline or carriage return in it)."""
    if "\n" in value or "\r" in value:
        raise ConfigError(f"{option}={value!r} contains a line break; allowed: one line without line breaks")


def check_slurm_options(
    name: str,
    options: Sequence[str],
    setup: Sequence[str],
    runs_per_task: int | None,
    max_concurrent: int | None,
    signal_seconds: int | None,
) -> None:
    """A ConfigError for Slurm settings the script cannot hold: line breaks, non-positive counts (None: the default),
    options that are not ``--`` options."""
    check_line("name", name)
    for option in options:
        check_line("sbatch_options", option)
        if not option.startswith("-"):
            raise ConfigError(f"sbatch_options contains {option!r}; allowed: sbatch options such as --gres=gpu:1")
    for line in setup:
        check_line("setup", line)
    counts = (("runs_per_task", runs_per_task), ("max_concurrent", max_concurrent), ("signal_seconds", signal_seconds))
    for option, value in counts:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{option}={value!r} is invalid: it must be a positive integer")


def fit_devices(base_config: Path, fit_args: Sequence[str], grid: Mapping[str, Sequence[str]]) -> int:
    """The devices each run trains on (``trainer.devices`` of the fit arguments, else of the base config); 1 for
    ``auto`` or an unset value. A grid over ``trainer.devices`` is refused: every task of an array is alike."""
    if "trainer.devices" in grid:
        raise ConfigError("grid key 'trainer.devices' is not allowed with slurm=true; run one sweep per device count")
    value: Any = None
    settings = yaml.safe_load(base_config.read_text()) or {}
    if isinstance(settings, dict) and isinstance(settings.get("trainer"), dict):
        value = settings["trainer"].get("devices")
    for index, argument in enumerate(fit_args):
        if argument.startswith("--trainer.devices="):
            value = yaml.safe_load(argument.split("=", 1)[1])
        elif argument == "--trainer.devices" and index + 1 < len(fit_args):
            value = yaml.safe_load(fit_args[index + 1])
    if isinstance(value, list):
        return len(value)
    if isinstance(value, str) and re.fullmatch(r"\d+", value):
        value = int(value)
    return value if isinstance(value, int) and value > 1 else 1


def array_tasks(runs: Sequence[SweepRun], runs_per_task: int) -> list[list[SweepRun]]:
    """The runs of each array task, in order: consecutive groups of ``runs_per_task``."""
    return [list(runs[start : start + runs_per_task]) for start in range(0, len(runs), runs_per_task)]


def sbatch_script(
    out: Path,
    runs: Sequence[SweepRun],
    commands: Mapping[str, list[str]],
    sweep_name: str,
    options: Sequence[str] = (),
    runs_per_task: int = 1,
    max_concurrent: int | None = None,
    setup: Sequence[str] = (),
    devices: int = 1,
    signal_seconds: int = 90,
) -> str:
    """A Slurm job-array script: task i runs its runs at once (skipping finished ones), each with its own folder,
    log and exit code; requeued on pre-emption (see the module's description)."""
    if devices > 1 and runs_per_task > 1:
        raise ConfigError(
            f"runs_per_task={runs_per_task} with trainer.devices={devices}: a run on several devices fills its task; "
            "allowed: runs_per_task=1 when trainer.devices > 1"
        )
    tasks = array_tasks(runs, runs_per_task)
    throttle = f"%{max_concurrent}" if max_concurrent is not None else ""
    use_srun = devices > 1
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={sweep_name}",
        f"#SBATCH --array=0-{len(tasks) - 1}{throttle}",
        f"#SBATCH --output={out}/slurm-%A_%a.out",
        "#SBATCH --requeue",
        f"#SBATCH --signal={'' if use_srun else 'B:'}USR1@{signal_seconds}",
        *([f"#SBATCH --ntasks-per-node={devices}"] if use_srun else []),
        *(f"#SBATCH {option}" for option in options),
        f"# Written by `clocks sweep --slurm=true`: {len(runs)} runs, {runs_per_task} per array task.",
        *setup,
        f"cd {shlex.quote(str(Path.cwd()))}",
        f"export WANDB_RUN_GROUP={shlex.quote(sweep_name)}",
        f"threads=$(( ${{SLURM_CPUS_PER_TASK:-{runs_per_task}}} / {runs_per_task} ))",
        'export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( threads > 0 ? threads : 1 ))}"',
        "run() {  # usage: run RUN_DIR RUN_NAME COMMAND...: one run, its output in its log, its exit status recorded",
        '  local run_dir="$1" name="$2"; shift 2',
        f'  if [ "$(cat "$run_dir/{EXIT_FILE}" 2>/dev/null)" = 0 ] && [ -f "$run_dir/{CLOCKS_FILE}" ]; then',
        '    echo "$name has finished already"; return 0',
        "  fi",
        f'  mkdir -p "$run_dir"; rm -f "$run_dir/{EXIT_FILE}"',
        f'  WANDB_NAME="$name" {"srun " if use_srun else ""}"$@" >> "$run_dir/{LOG_FILE}" 2>&1 &',
        "  local child=$!",
        "  # On SIGTERM (pre-emption): let the run save last.ckpt, and leave no exit code: the run is incomplete.",
        '  trap \'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143\' TERM',
        '  wait "$child"',
        f'  local status=$?; echo "$status" > "$run_dir/{EXIT_FILE}"; return "$status"',
        "}",
        "requeue=0",
        "pids=()",
        "trap 'requeue=1; kill -TERM \"${pids[@]}\" 2>/dev/null' USR1",
        'case "$SLURM_ARRAY_TASK_ID" in',
    ]
    for index, task in enumerate(tasks):
        starts = "; ".join(
            f"run {shlex.join([str(out / run.name), run.name, *commands[run.name]])}"
            # Each run's share of the task's CPUs, as its --threads (unless the sweep's fit arguments set them).
            + ("" if sets_threads(commands[run.name]) else ' --threads="$OMP_NUM_THREADS"')
            + " & pids+=($!)"
            for run in task
        )
        lines.append(f"  {index}) {starts} ;;")
    lines += [
        '  *) echo "no run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;',
        "esac",
        "failed=0",
        'for pid in "${pids[@]}"; do',
        "  # A signal interrupts `wait`; wait again until the run has really ended.",
        '  while true; do wait "$pid"; status=$?; kill -0 "$pid" 2>/dev/null || break; done',
        # 75: the run is in use by another process ("running elsewhere"), which is not a failure of this task.
        '  if [ "$status" != 0 ] && [ "$status" != 75 ]; then failed=1; fi',
        "done",
        'if [ "$requeue" = 1 ]; then',
        '  echo "pre-empted: every run saved last.ckpt; requeueing"',
        '  scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"; exit 0',
        "fi",
        'exit "$failed"',
        "",
    ]
    return "\n".join(lines)
