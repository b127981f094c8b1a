"""Running a sweep's runs on this machine: K at a time, each on its share of the GPUs or CPU cores.

Every run is one ``clocks fit`` subprocess whose output goes to ``<run>/run.log``; when it ends, its exit
status is written to ``<run>/exit_code``. With GPUs, each run sees one GPU through ``CUDA_VISIBLE_DEVICES``,
spread evenly; each run gets cores / K CPU threads (``OMP_NUM_THREADS`` when set), passed to it as ``--threads``
unless the sweep's fit arguments set ``--threads`` themselves.
"""

from __future__ import annotations

import os
import queue
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lightning_clocks.errors import ConfigError
from lightning_clocks.feedback import SweepProgress
from lightning_clocks.results import EXIT_FILE, FINISHED, LOG_FILE, atomic_write_text, run_status
from lightning_clocks.sweep.grid import SweepRun

#: Runs sharing one GPU at once unless --runs_per_gpu says otherwise. One until a benchmark on the
#: target GPU shows more total throughput with more (benchmarks/settings.py measures k = 1, 2, 4, 8).
RUNS_PER_GPU = 1


def run_environment(sweep_name: str, name: str, gpu: str | None, jobs: int) -> dict[str, str]:
    """The environment of one run: its W&B group and name; its one GPU when there are GPUs; and its CPU threads in
    ``OMP_NUM_THREADS`` (:func:`run_threads`), so that ``jobs`` runs do not oversubscribe the cores."""
    environment = {**os.environ, "WANDB_RUN_GROUP": sweep_name, "WANDB_NAME": name}
    if gpu is not None:
        environment["CUDA_VISIBLE_DEVICES"] = gpu
    environment["OMP_NUM_THREADS"] = str(run_threads(environment, jobs))
    return environment


def run_threads(environment: Mapping[str, str], jobs: int) -> int:
    """The CPU threads of one of ``jobs`` runs at once: ``OMP_NUM_THREADS`` when it is set to a count, else an equal
    share of the cores."""
    value = environment.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else max(1, (os.cpu_count() or 1) // jobs)


def sets_threads(command: Sequence[str]) -> bool:
    """Whether a ``clocks fit`` command sets its thread count itself (``--threads`` among the sweep's fit
    arguments), which then wins over the sweep's share."""
    return any(argument == "--threads" or argument.startswith("--threads=") for argument in command)


def with_threads(command: Sequence[str], threads: int | str) -> list[str]:
    """``command`` with ``--threads=<threads>`` added, unless it sets ``--threads`` itself: ``clocks fit`` runs on
    one thread unless told otherwise, whatever ``OMP_NUM_THREADS`` says."""
    return list(command) if sets_threads(command) else [*command, f"--threads={threads}"]


def local_jobs(jobs: int | None, runs_per_gpu: int | None, gpus: Sequence[str]) -> int:
    """How many runs go at once: ``jobs``; else ``runs_per_gpu`` (default 1) times the GPUs; else, on CPU, one
    run per core, each with one thread (on 2 cores, 2 small runs at once trained 1.3-1.4x more steps per second in
    total than one run with 2 threads: docs/performance.md)."""
    if jobs is not None and runs_per_gpu is not None:
        raise ConfigError("give --jobs or --runs_per_gpu, not both: --jobs counts runs over all GPUs")
    for option, value in (("jobs", jobs), ("runs_per_gpu", runs_per_gpu)):
        if value is not None and value < 1:
            raise ConfigError(f"{option}={value} is invalid: it must be a positive integer")
    if runs_per_gpu is not None and not gpus:
        raise ConfigError("runs_per_gpu needs a visible GPU and none is; on CPU, set --jobs")
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
    out: Path,
    runs: Sequence[SweepRun],
    commands: Mapping[str, list[str]],
    sweep_name: str,
    jobs: int,
    on_run_end: Callable[[], None] = lambda: None,
) -> list[SweepRun]:
    """Run every unfinished run, ``jobs`` at a time, calling ``on_run_end`` (one at a time) and printing ``k/N done``
    with an estimate of the time left as each ends; returns the runs launched. A failed run stops nothing."""
    to_run = [run for run in runs if run_status(out / run.name) != FINISHED]
    gpus = visible_gpus()
    slots: queue.Queue[str | None] = queue.Queue()
    for index in range(jobs):
        slots.put(gpus[index % len(gpus)] if gpus else None)
    end_lock = threading.Lock()
    progress = SweepProgress(len(to_run))

    def execute(run: SweepRun) -> None:
        gpu = slots.get()
        try:
            device = f" on GPU {gpu}" if gpu is not None else ""
            print(f"[sweep] start {run.name}{device}", flush=True)
            environment = run_environment(sweep_name, run.name, gpu, jobs)
            command = with_threads(commands[run.name], environment["OMP_NUM_THREADS"])
            returncode = launch(command, out / run.name, environment)
            print(f"[sweep] {run.name}: {run_status(out / run.name)} (exit {returncode})", flush=True)
        finally:
            slots.put(gpu)
        with end_lock:
            on_run_end()
            print(progress.run_ended(), flush=True)

    print(f"[sweep] {len(runs) - len(to_run)} of {len(runs)} runs already finished; launching {len(to_run)}")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(execute, to_run))
    return to_run
