"""The files of run folders and sweep folders: their names, readers and writers, and a run's status.

Every writer replaces its file atomically: it writes a temporary file in the target's folder,
flushes it to disk, gives it the permissions the umask allows (0644 under umask 022), then renames
it over the target; a crash at any moment leaves the previous complete file.

A run folder (``trainer.default_root_dir``) holds ``config.yaml``, ``curves.csv`` (one row per
evaluation), ``clocks.json`` (the clocks and the run's description), ``checkpoints/``, the
loggers' files and ``wandb_id`` (the run's W&B id, kept across resumes); a run launched by a sweep also
``run.log`` and ``exit_code``. A sweep folder holds ``sweep.json``
(what was asked), ``sweep.csv`` (one row per run) and one run folder per run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from lightning_clocks.errors import ConfigError, RunInUse
from lightning_clocks.run_lock import lock_held

# ----------------------------------------------------------------------------- file names
CONFIG_FILE = "config.yaml"
CURVES_FILE = "curves.csv"
CLOCKS_FILE = "clocks.json"
VALIDATE_FILE = "validate.json"
BASINS_FILE = "basins.csv"
CHECKPOINTS_FOLDER = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
LOG_FILE = "run.log"
EXIT_FILE = "exit_code"
HEATMAP_FILE = "win_heatmap.png"
INITIAL_HEATMAP_FILE = "win_heatmap_initial.png"
SWEEP_FILE = "sweep.json"
SWEEP_TABLE = "sweep.csv"
SBATCH_FILE = "sweep.sbatch"
WANDB_ID_FILE = "wandb_id"

# ----------------------------------------------------------------------------- run status
FINISHED, FAILED, INCOMPLETE, PENDING = "finished", "failed", "incomplete", "pending"
RUNNING, RUNNING_ELSEWHERE = "running", "running elsewhere"
#: Every status a run can have, in the order ``clocks sweep --status`` counts them.
STATUSES = (FINISHED, FAILED, INCOMPLETE, PENDING, RUNNING, RUNNING_ELSEWHERE)


def run_status(run_dir: Path) -> str:
    """The status of the run in ``run_dir``, from its files alone.

    ``finished``: exit status 0 and ``clocks.json`` (or, for a run started by hand, ``clocks.json``);
    ``failed``: a nonzero exit status; ``incomplete``: started (it has a log or curves) but no exit status,
    so killed; ``pending``: never started; ``running``: not finished and its folder lock is held by a live
    process; ``running elsewhere``: its last launch exited 75 because another process held the lock
    (:class:`~lightning_clocks.errors.RunInUse`), which still does (once it lets go the run is ``incomplete``).
    """
    exit_file = run_dir / EXIT_FILE
    exit_status = exit_file.read_text().strip() if exit_file.exists() else None
    if exit_status == str(RunInUse.exit_status):
        return RUNNING_ELSEWHERE if lock_held(run_dir) else INCOMPLETE
    if exit_status is not None:
        return FINISHED if exit_status == "0" and (run_dir / CLOCKS_FILE).exists() else FAILED
    if lock_held(run_dir):
        return RUNNING
    if (run_dir / LOG_FILE).exists():
        return INCOMPLETE
    return FINISHED if (run_dir / CLOCKS_FILE).exists() else PENDING


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds a run's results (``curves.csv`` or ``clocks.json``)."""
    return (path / CURVES_FILE).exists() or (path / CLOCKS_FILE).exists()


# ----------------------------------------------------------------------------- atomic writes
@cache
def _file_mode() -> int:
    """The mode a new file gets under this process's umask (0644 under umask 022); read once, since
    ``os.umask`` can only be read by setting it, which is not safe while other threads create files."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once the body has written it, flush it to disk and rename it over
    ``path`` with normal permissions. On an error the temporary file is removed and ``path`` is untouched.

    The temporary file is in the target's own folder, so the rename never crosses filesystems (a copy
    across filesystems could leave a truncated target when the disk fills).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temporary)
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, _file_mode())
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old file or the new one, never a torn one."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, newline="")


def write_csv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, object]], leading: Sequence[str]) -> None:
    """Write ``rows`` as CSV atomically: the ``leading`` columns first, then every other column sorted."""
    columns = [*leading, *sorted({name for row in rows for name in row} - set(leading))]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def write_json(path: str | os.PathLike[str], payload: Mapping[str, object]) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


# ----------------------------------------------------------------------------- curves and clocks
def write_curves(path: str | os.PathLike[str], rows: Sequence[Mapping[str, object]]) -> None:
    """Write one CSV row per evaluation; columns are ``step`` first, then every other column in sorted order."""
    write_csv(path, rows, ["step"])


def read_curves(path: str | os.PathLike[str]) -> dict[str, list[float]]:
    """Read ``curves.csv`` back as columns of floats (``step`` as ints); empty cells are NaN.

    Raises:
        ConfigError: naming the file, when it is not a curves table (no ``step`` column, a short row, text).
    """
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    if not rows:
        return {}
    try:
        columns = {name: [float(row[name]) if row[name] != "" else float("nan") for row in rows] for name in rows[0]}
        columns["step"] = [int(step) for step in columns["step"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"{path} is damaged: it is not a curves table with a step column ({error})") from None
    return columns


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON object (``clocks.json``, ``sweep.json``); a ConfigError names a damaged file."""
    try:
        payload = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} is damaged: it is not valid JSON ({error})") from None
    if not isinstance(payload, dict):
        raise ConfigError(f"{path} is damaged: it holds {type(payload).__name__}, not a JSON object")
    return payload


def read_rows(
    path: str | os.PathLike[str], text_columns: Sequence[str] = (), int_columns: Sequence[str] = ()
) -> list[dict[str, object]]:
    """Read a CSV table as rows: ``text_columns`` as text, ``int_columns`` as ints, the rest as floats; empty cells
    as ``None``."""
    with open(path, newline="") as stream:
        raw_rows = list(csv.DictReader(stream))
    rows = []
    for raw in raw_rows:
        row: dict[str, object] = {}
        for column, text in raw.items():
            if column in text_columns:
                row[column] = text
            elif not text:
                row[column] = None
            else:
                row[column] = int(float(text)) if column in int_columns else float(text)
        rows.append(row)
    return rows
