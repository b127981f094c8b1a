"""Checkpoints that are safe to share and safe to write: weights-only loading, atomic saving, finding the newest.

- **Loading** is always ``torch.load(weights_only=True)``: a checkpoint holds tensors and plain data, and
  nothing in it can run code. A file that is not such a checkpoint (empty, truncated, random bytes, or a
  pickle that would run code) is refused with one :class:`CheckpointError` naming the file and the newest
  intact checkpoint of its run, if there is one.
- **Saving** (:class:`AtomicCheckpointIO`, Lightning's checkpoint plugin) writes a temporary file in the
  target's own folder, flushes it to disk and renames it over the target, so a full disk or a killed
  process never leaves a truncated ``last.ckpt``. Lightning's own saver writes its temporary file in the
  system's temp folder and moves it, which across filesystems is a copy.
- **Resuming** from ``last`` takes the newest intact checkpoint of the run: ours in ``checkpoints/`` or
  Lightning's ``hpc_ckpt_*.ckpt`` (written on a Slurm pre-emption signal) in the run folder.
"""

from __future__ import annotations

import errno
import os
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from lightning_clocks.errors import RunFailure
from lightning_clocks.results import CHECKPOINTS_FOLDER, CONFIG_FILE, atomic_path

#: Lightning's checkpoints written on a Slurm pre-emption signal, in the run folder.
HPC_CHECKPOINT_GLOB = "hpc_ckpt_*.ckpt"


class CheckpointError(RunFailure):
    """A checkpoint cannot be read or written; the message names the file and what to resume from instead."""


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint in ``path``, loaded weights-only (on the CPU by default); a CheckpointError for anything else."""
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a checkpoint (empty, truncated or another format){resume_hint(path)}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist; give a checkpoint file, or 'last'") from None
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError) as error:
        raise CheckpointError(f"{path} {damage(error)}{resume_hint(path)}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "global_step" not in checkpoint:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no state_dict, global_step){resume_hint(path)}")
    return checkpoint


def damage(error: BaseException) -> str:
    """What is wrong with a checkpoint file that ``torch.load`` refused, in a few words."""
    if isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in str(error):
        return "holds objects that a weights-only load refuses (it could run code); it was not loaded"
    return f"is damaged or not a checkpoint ({type(error).__name__}: {' '.join(str(error).split())[:120]})"


def checkpoint_step(path: Path) -> int | None:
    """The optimizer step of an intact checkpoint, or None when ``path`` cannot be loaded."""
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])
    except Exception:  # any unreadable file is simply not a candidate
        return None


def run_checkpoints(run_dir: Path, checkpoint_dir: Path | None = None) -> list[Path]:
    """Every checkpoint file of a run: ``checkpoints/*.ckpt`` (or ``checkpoint_dir``) and Lightning's hpc ones."""
    folder = checkpoint_dir or run_dir / CHECKPOINTS_FOLDER
    return sorted({*folder.glob("*.ckpt"), *run_dir.glob(HPC_CHECKPOINT_GLOB)})


def newest_intact(run_dir: Path, checkpoint_dir: Path | None = None, exclude: Path | None = None) -> Path | None:
    """The intact checkpoint of the run with the highest step (``last.ckpt`` first among equals), or None."""
    candidates = []
    for path in run_checkpoints(run_dir, checkpoint_dir):
        if exclude is not None and path.resolve() == exclude.resolve():
            continue
        step = checkpoint_step(path)
        if step is not None:
            candidates.append((step, path.name == "last.ckpt", path.stat().st_mtime, path))
    return max(candidates)[-1] if candidates else None


def resolve_last(run_dir: Path, checkpoint_dir: Path | None = None) -> Path | None:
    """What ``--ckpt_path last`` resumes: the newest intact checkpoint of the run, or None when it has none yet.

    Newer files that cannot be loaded are named in a warning; a run whose every checkpoint is damaged is a
    CheckpointError (resuming from scratch would silently redo and mix its curves)."""
    files = run_checkpoints(run_dir, checkpoint_dir)
    newest = newest_intact(run_dir, checkpoint_dir)
    if newest is None:
        if files:
            load_checkpoint(files[-1])  # raises the CheckpointError that names the damage
        return None
    newer = [path for path in files if path.stat().st_mtime > newest.stat().st_mtime]
    skipped = [path for path in newer if checkpoint_step(path) is None]
    if skipped:
        print(
            f"clocks: warning: {', '.join(map(str, skipped))} cannot be loaded (damaged, or not weights-only); "
            f"resuming from the newest intact checkpoint {newest}",
            file=sys.stderr,
        )
    return newest


def resume_hint(path: Path) -> str:
    """``; the newest intact checkpoint is X: resume with --ckpt_path X`` for the run ``path`` belongs to."""
    folder = path.parent
    run_dir = folder.parent if folder.name == CHECKPOINTS_FOLDER else folder
    if not (run_dir / CONFIG_FILE).exists():
        return ""  # not a run's checkpoint: there is no run to resume
    intact = newest_intact(run_dir, folder if folder.name == CHECKPOINTS_FOLDER else None, exclude=path)
    if intact is None:
        return "; no intact checkpoint of this run remains: start it again"
    return f"; the newest intact checkpoint is {intact}: resume with --ckpt_path={intact}"


#: The fields of a ``ModelCheckpoint`` callback state that hold paths Lightning may later delete (recursively).
CALLBACK_PATH_FIELDS = ("best_model_path", "last_model_path", "kth_best_model_path")


def callback_paths(checkpoint: dict[str, Any]) -> list[tuple[str, str]]:
    """Every path in the checkpoint's ``ModelCheckpoint`` states, as ``(state key and field, path)``."""
    found = []
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if not (isinstance(key, str) and key.startswith("ModelCheckpoint") and isinstance(state, dict)):
            continue
        name = key.split("{")[0]  # Lightning's state key is the class name and its settings
        found += [(f"{name}.{field}", state[field]) for field in CALLBACK_PATH_FIELDS if state.get(field)]
        top_k = state.get("best_k_models")
        found += [(f"{name}.best_k_models", path) for path in top_k] if isinstance(top_k, dict) else []
    return [(where, str(path)) for where, path in found]


def inside(path: str, folder: Path) -> bool:
    """Whether ``path`` is a local file really inside ``folder``: no URL, no ``..``, not a link, and inside once
    every link on the way is followed."""
    candidate = Path(path)
    if "://" in path or ".." in candidate.parts or candidate.is_symlink():
        return False
    return Path(os.path.realpath(folder)) in Path(os.path.realpath(candidate)).parents


def refuse_crafted_paths(ckpt_path: str, checkpoint: dict[str, Any], folder: Path) -> None:
    """Raise a CheckpointError for a path in the checkpoint's callback state that is written as if inside the
    run's checkpoint ``folder`` (or with ``..``, or as a URL) but leads out of it: Lightning would later delete
    it. Paths plainly elsewhere (a run folder that was moved) are only dropped when loaded (:func:`keep_inside`)."""
    for where, path in callback_paths(checkpoint):
        written_inside = Path(os.path.realpath(folder)) in Path(path).absolute().parents or (
            Path(folder).absolute() in Path(path).absolute().parents
        )
        if ("://" in path or ".." in Path(path).parts or written_inside) and not inside(path, folder):
            raise CheckpointError(
                f"it holds {where}={path}, which leads out of the run's checkpoint folder {folder} "
                "(a '..', a link or a URL); Lightning would delete it: use a checkpoint written by clocks fit"
            )


def keep_inside(checkpoint: dict[str, Any], folders: list[Path]) -> dict[str, Any]:
    """``checkpoint`` with every callback-state path that is not inside one of ``folders`` dropped, so that
    Lightning never removes or reads a file outside the run."""
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if not (isinstance(key, str) and key.startswith("ModelCheckpoint") and isinstance(state, dict)):
            continue
        for field in CALLBACK_PATH_FIELDS:
            if state.get(field) and not any(inside(str(state[field]), folder) for folder in folders):
                state[field] = ""
        if isinstance(state.get("best_k_models"), dict):
            state["best_k_models"] = {
                path: score
                for path, score in state["best_k_models"].items()
                if any(inside(str(path), folder) for folder in folders)
            }
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint saving and loading, with atomic saves in the target's folder and weights-only loads.

    Given the run's checkpoint ``folders``, a loaded checkpoint's callback-state paths outside them are dropped
    (:func:`keep_inside`), and Lightning's pruning removes only plain files inside them, never a folder.
    """

    def __init__(self, folders: list[Path] | None = None) -> None:
        super().__init__()
        #: The run's checkpoint folders: the only places Lightning may remove files from.
        self.folders = [Path(folder) for folder in folders or []]

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        target = Path(path)
        try:
            # Serialized straight into the temporary file: a copy in memory first would double the peak memory of
            # a save.
            with atomic_path(target) as temporary, open(temporary, "wb") as stream:
                save_reporting_os_errors(checkpoint, stream)
        except OSError as error:
            reason = "the disk is full" if error.errno == errno.ENOSPC else error.strerror or str(error)
            raise CheckpointError(
                f"{target} could not be written ({reason}); the previous file, if any, is intact{resume_hint(target)}"
            ) from None

    def load_checkpoint(self, path: Any, map_location: Any | None = None, weights_only: bool | None = None) -> Any:
        checkpoint = load_checkpoint(path, map_location if map_location is not None else "cpu")
        return keep_inside(checkpoint, self.folders) if self.folders else checkpoint

    def remove_checkpoint(self, path: Any) -> None:
        """Remove one checkpoint file that Lightning prunes: a plain file inside the run's checkpoint folders only
        (Lightning's own removal is recursive and follows whatever path a callback state held)."""
        target = Path(path)
        if not target.is_file() or (self.folders and not any(inside(str(path), f) for f in self.folders)):
            print(f"clocks: warning: not removing {path}: not a checkpoint file of this run", file=sys.stderr)
            return
        target.unlink()


def save_reporting_os_errors(checkpoint: dict[str, Any], stream: BinaryIO) -> None:
    """``torch.save(checkpoint, stream)``; a failed write of ``stream`` (a full disk: ENOSPC) raises its OSError.

    torch's zip writer turns the OSError of a failed write into an unspecific RuntimeError ("unexpected pos"),
    raised while handling that OSError; the OSError is its ``__context__``.
    """
    try:
        torch.save(checkpoint, stream)
    except RuntimeError as error:
        if isinstance(error.__context__, OSError):
            raise error.__context__ from None
        raise
