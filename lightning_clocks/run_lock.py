"""One process per run folder: a lock file that two fits, or two sweeps, cannot both hold.

``clocks fit`` creates ``<run folder>/.lock`` with ``O_EXCL`` before it writes anything and removes it
when it ends, however it ends. The file says who holds the run (host, process id, Slurm job id, start
time). A lock left by a process that no longer runs (on this host), or by an earlier attempt of the same
Slurm job (a requeued job), is stale and is taken over; any other lock refuses the run with
:class:`~lightning_clocks.errors.RunInUse` (exit status 75), which a sweep reads as "running elsewhere".

We write this by hand because the lock must work on the shared network filesystems of clusters, where
``fcntl``/``flock`` locks are unreliable, while an ``O_EXCL`` create and a rename are atomic.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lightning_clocks.errors import RunInUse

#: The lock file of a run folder.
LOCK_FILE = ".lock"


def holder() -> dict[str, Any]:
    """Who this process is, as written in a lock file."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (one we may not signal still counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(lock: dict[str, Any]) -> bool:
    """Whether the process that wrote ``lock`` is gone: same host and no such process, or same Slurm job."""
    job = os.environ.get("SLURM_JOB_ID")
    if job is not None and lock.get("slurm_job_id") == job:
        return True  # an earlier attempt of this very job, requeued after pre-emption
    return lock.get("host") == socket.gethostname() and not process_alive(int(lock.get("pid", -1)))


def read_lock(path: Path) -> dict[str, Any] | None:
    """The content of a lock file; an empty dict for an unreadable one; None when there is none."""
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def lock_held(run_dir: Path) -> bool:
    """Whether a live process (here or on another host) holds ``run_dir``'s lock; an unreadable lock counts as
    held, as :func:`acquire` treats it."""
    lock = read_lock(run_dir / LOCK_FILE)
    return lock is not None and (not lock or not is_stale(lock))


def acquire(run_dir: Path) -> Path:
    """Create ``run_dir/.lock`` for this process (taking over a stale one) and return its path, or raise RunInUse."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    for _ in range(3):
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            lock = read_lock(path)
            if lock is None:
                continue  # released meanwhile: try again
            if not lock or not is_stale(lock):
                raise RunInUse(f"trainer.default_root_dir={run_dir} is in use: {describe(lock)} holds {path}; wait "
                               "for it, or remove the file if that process is surely gone") from None
            print(f"clocks: warning: taking over the stale lock {path} of {describe(lock)}", file=sys.stderr)
            # Rename the stale lock away: of several processes taking it over, exactly one rename succeeds.
            moved = path.with_name(f"{LOCK_FILE}.stale.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                path.rename(moved)
                if read_lock(moved) != lock:
                    # Another process took it over between our read and our rename: give its lock back.
                    with contextlib.suppress(FileExistsError):
                        os.link(moved, path)
                moved.unlink()
            continue
        with os.fdopen(descriptor, "w") as file:
            json.dump(holder(), file)
        return path
    raise RunInUse(f"trainer.default_root_dir={run_dir}: {path} keeps changing; another process is starting it")


def describe(lock: dict[str, Any]) -> str:
    """``process 123 on host x (Slurm job 9), since ...`` from a lock's content."""
    if not lock:
        return "an unreadable lock"
    job = f", Slurm job {lock['slurm_job_id']}" if lock.get("slurm_job_id") else ""
    return f"process {lock.get('pid')} on host {lock.get('host')}{job}, since {lock.get('started')}"


def release(path: Path) -> None:
    """Remove our lock file (only if it is still ours)."""
    lock = read_lock(path)
    if lock and lock.get("pid") == os.getpid() and lock.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[Path]:
    """Hold ``run_dir``'s lock for the duration of the block."""
    path = acquire(run_dir)
    try:
        yield path
    finally:
        release(path)
