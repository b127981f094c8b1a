"""A sweep as a Slurm job array: one explicit command per array task, submitted with ``sbatch``."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from lightning_clocks.results import CLOCKS_FILE, EXIT_FILE, LOG_FILE
from lightning_clocks.sweep.grid import SweepRun


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
        "# Written by `clocks sweep --slurm=true`: one array task per run of the sweep.",
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
