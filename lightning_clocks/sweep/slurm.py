"""A sweep as a Slurm job array: each array task runs its share of the runs, resumes them after pre-emption.

Array task ``i`` runs the runs ``i*R .. i*R+R-1`` (``R = --runs_per_task``) at once on the task's GPU, each
in its own folder with its own ``run.log`` and ``exit_code``; a finished run is skipped. ``--max_concurrent=K``
lets at most K tasks run at once (``--array=0-T%K``). ``--setup`` lines (module loads, activating an
environment) run first; ``OMP_NUM_THREADS`` is set to the task's CPUs shared among its runs, always (sbatch
would otherwise export the submitting shell's value, which fits another machine), and each run gets it as
``--threads``.

Each run's end rewrites the sweep's ``sweep.csv`` (``clocks sweep --status``, atomic and under a lock, so tasks
ending together do not clobber it). Each task's ``slurm-<job>_<task>.out`` is appended to, never emptied, so it
keeps every attempt.

Pre-emption and time limits: the script asks Slurm for a warning signal ``--signal_seconds`` before the end, in
its batch shell (``--signal=B:USR1@S``), and is ``--requeue``-able. The shell passes USR1 on to every run (a run on
several devices is one ``srun`` with ``--ntasks-per-node`` = devices, as Lightning requires, and srun passes the
signal to every rank); each run stops at its next step boundary, saves ``last.ckpt`` (exit 138, no
``exit_code`` written, so the run stays incomplete), and once all have saved the shell requeues the task
(``scontrol requeue``). Lightning's own Slurm auto-requeue is off (:mod:`lightning_clocks.fit`): it would save
inside its signal handler and no ``hpc_ckpt_*.ckpt`` file is written. A SIGTERM from Slurm itself (``scontrol
requeue``, a pre-emption, ``scancel``) reaches every process of the job; each run saves the same way (exit 143) and
Slurm requeues or ends the task. The requeued task starts every unfinished run again with ``--ckpt_path last``.
Nothing here imports Lightning.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from lightning_clocks.errors import ConfigError
from lightning_clocks.results import CLOCKS_FILE, EXIT_FILE, LOG_FILE
from lightning_clocks.sweep.grid import SweepRun, asked_setting
from lightning_clocks.sweep.local import sets_threads


def check_line(option: str, value: str) -> None:
    """Refuse a value that would break the script's lines (a newline or carriage return in it)."""
    if "\n" in value or "\r" in value:
        raise ConfigError(f"{option}={value!r} contains a line break; allowed: one line without line breaks")


def directive_value(value: str) -> str:
    """``value`` double-quoted for an ``#SBATCH`` line, so that spaces work (sbatch has no escape for a double quote:
    :func:`check_slurm_options` refuses one)."""
    return f'"{value}"'


def check_slurm_options(
    out: Path | None,
    name: str,
    options: Sequence[str],
    setup: Sequence[str],
    runs_per_task: int | None,
    max_concurrent: int | None,
    signal_seconds: int | None,
) -> None:
    """A ConfigError for Slurm settings the script cannot hold: line breaks, non-positive counts (None: the default),
    options that are not ``--`` options; with the sweep folder ``out`` (a Slurm sweep's), a double quote in the name
    or that folder, which an ``#SBATCH`` line cannot hold."""
    check_line("name", name)
    if out is not None:
        check_line("out", str(out))
        for option, value in (("name", name), ("out", str(out))):
            if '"' in value:
                raise ConfigError(
                    f"{option}={value!r} contains a double quote; allowed: a {option} without double quotes"
                )
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
    value = asked_setting(base_config, fit_args, "trainer.devices")
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
    refresh = shlex.join([sys.executable, "-m", "lightning_clocks", "sweep", f"--out={out}", "--status=true"])
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={directive_value(sweep_name)}",
        f"#SBATCH --array=0-{len(tasks) - 1}{throttle}",
        f"#SBATCH --output={directive_value(f'{out}/slurm-%A_%a.out')}",
        "#SBATCH --open-mode=append",
        "#SBATCH --requeue",
        f"#SBATCH --signal=B:USR1@{signal_seconds}",
        *([f"#SBATCH --ntasks-per-node={devices}"] if use_srun else []),
        *(f"#SBATCH {option}" for option in options),
        f"# Written by `clocks sweep --slurm=true`: {len(runs)} runs, {runs_per_task} per array task.",
        *setup,
        f"cd {shlex.quote(str(Path.cwd()))}",
        f"export WANDB_RUN_GROUP={shlex.quote(sweep_name)}",
        # Always set here: sbatch exports the submitting shell's environment, whose value fits another machine.
        f"threads=$(( ${{SLURM_CPUS_PER_TASK:-{runs_per_task}}} / {runs_per_task} ))",
        "export OMP_NUM_THREADS=$(( threads > 0 ? threads : 1 ))",
        'echo "$(date -Is) array task $SLURM_ARRAY_TASK_ID starts (restart ${SLURM_RESTART_COUNT:-0}) on $(hostname)"',
        "run() {  # usage: run RUN_DIR RUN_NAME COMMAND...: one run, its output in its log, its exit status recorded",
        '  local run_dir="$1" name="$2"; shift 2',
        f'  if [ "$(cat "$run_dir/{EXIT_FILE}" 2>/dev/null)" = 0 ] && [ -f "$run_dir/{CLOCKS_FILE}" ]; then',
        '    echo "$name has finished already"; return 0',
        "  fi",
        f'  mkdir -p "$run_dir"; rm -f "$run_dir/{EXIT_FILE}"',
        f'  WANDB_NAME="$name" {"srun " if use_srun else ""}"$@" >> "$run_dir/{LOG_FILE}" 2>&1 &',
        "  local child=$!",
        "  # A stop signal goes on to the run (to each of its ranks), which saves last.ckpt at its next step",
        "  # and exits 128 + the signal; no exit code is written: the run stays incomplete and resumes when requeued.",
        "  # Always as USR1: srun passes USR1 to its ranks, but a SIGTERM makes it kill them at once.",
        '  trap \'kill -USR1 "$child" 2>/dev/null; wait "$child"; exit 138\' USR1',
        '  trap \'kill -USR1 "$child" 2>/dev/null; wait "$child"; exit 143\' TERM',
        '  wait "$child"',
        f'  local status=$?; echo "$status" > "$run_dir/{EXIT_FILE}"',
        f"  {refresh} > /dev/null  # sweep.csv, rewritten atomically under its lock",
        '  return "$status"',
        "}",
        "requeue=0",
        "terminated=0",
        "pids=()",
        "# Slurm's warning before the time limit (or scancel --signal=USR1 --batch): every run saves, then requeue.",
        "trap 'requeue=1; kill -USR1 \"${pids[@]}\" 2>/dev/null' USR1",
        "# Slurm's SIGTERM (scontrol requeue, pre-emption, scancel) reaches every process; wait until the runs saved.",
        "trap 'terminated=1; kill -TERM \"${pids[@]}\" 2>/dev/null' TERM",
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
        "  # 75: the run is in use by another process (running elsewhere), not a failure of this task; 138: a run that",
        "  # got USR1 itself saved and asks for a requeue.",
        '  case "$status" in 0|75) ;; 138) requeue=1 ;; *) failed=1 ;; esac',
        "done",
        'if [ "$terminated" = 1 ]; then',
        '  echo "$(date -Is) terminated by Slurm: every run saved last.ckpt"; exit 143',
        "fi",
        'if [ "$requeue" = 1 ]; then',
        '  echo "$(date -Is) pre-empted: every run saved last.ckpt; requeueing"',
        '  scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"; exit 0',
        "fi",
        'exit "$failed"',
        "",
    ]
    return "\n".join(lines)
