"""The loggers of a run folder: one CSV logger and one W&B run per run folder, across every resume.

The W&B run's id is stored in ``<run folder>/wandb_id``, written once (atomically, rank 0) when the run first
starts; every later start of the same folder (``--ckpt_path last``, a requeued Slurm task) reads it and
continues that W&B run (``resume="allow"``) instead of opening a new one (offline, each start writes its own
``offline-run-*-<id>`` folder with that id). Runs are tagged with the rule, its
complexity, the model family and N, and have ``job_type="fit"``. ``clocks validate`` runs without loggers
(:mod:`lightning_clocks.fit`): it measures a checkpoint once, prints the metrics and writes ``validate.json`` and
nothing else into the run (a W&B run of its own would appear beside the training runs under the same name).
The ``wandb`` option group (``--wandb.project``, ``--wandb.entity``, ``--wandb.tags``, ``--wandb.mode``,
``--wandb.group``) sets the W&B run from the command line or a config file.

A pre-emption by Slurm's SIGTERM reaches every process of the job, W&B's service process (a child of the run)
included: the run's next W&B call fails with a connection error. The run's W&B logger
(:class:`PreemptibleWandbLogger`) turns such an error into a one-line warning once the run has received a stop
signal (:mod:`lightning_clocks.callbacks.interrupt`), so the run still saves its checkpoint and exits for requeue.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from lightning_clocks.callbacks.interrupt import unless_stopping
from lightning_clocks.errors import ConfigError, check_choice
from lightning_clocks.results import WANDB_ID_FILE, atomic_path

#: W&B modes accepted by ``--wandb.mode``.
WANDB_MODES = ("online", "offline", "disabled")


@dataclass
class WandbOptions:
    """The W&B run of ``clocks fit`` (the default W&B logger's settings).

    Args:
        project: W&B project (default: ``WANDB_PROJECT``, else ``lightning_clocks``).
        entity: W&B user or team (default: W&B's own default).
        tags: tags added to the automatic ones (rule, complexity, model family, N).
        mode: online, offline or disabled (default: ``WANDB_MODE``, else offline).
        group: W&B group (default: ``WANDB_RUN_GROUP``, which ``clocks sweep`` sets to the sweep's name).
    """

    project: str | None = None
    entity: str | None = None
    tags: list[str] = field(default_factory=list)
    mode: str | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        if self.mode is not None:
            check_choice("wandb.mode", self.mode, WANDB_MODES)
        for tag in self.tags:
            if not tag or len(tag) > 64:
                raise ConfigError(f"wandb.tags contains {tag!r}; allowed: tags of 1 to 64 characters")

    @property
    def enabled(self) -> bool:
        """Whether W&B logs at all (``--wandb.mode=disabled``, or ``WANDB_MODE=disabled`` without a mode, turn it
        off)."""
        return (self.mode or os.environ.get("WANDB_MODE", "offline")) != "disabled"


def run_tags(model: Any, data: Any) -> list[str]:
    """The automatic W&B tags of a run: rule name, ``complexity=<value>``, model family and ``N=<n_train>`` (those
    the run has)."""
    tags = []
    rule = getattr(data, "rule", None)
    if rule is not None:
        tags += [str(rule.name), f"complexity={rule.complexity:g}"]
    if getattr(model, "family", None):
        tags.append(str(model.family))
    if getattr(data, "n_train", None) is not None:
        tags.append(f"N={data.n_train}")
    return tags


def read_wandb_id(run_dir: Path) -> str | None:
    """The W&B run id stored in ``run_dir`` (None before the run's first start)."""
    path = run_dir / WANDB_ID_FILE
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip() or None
    return None


def keep_wandb_id(run_dir: Path, run_id: str) -> str:
    """Store ``run_id`` as ``run_dir``'s W&B id unless it has one; returns the id the folder holds.

    The file is written beside its target and hard-linked into place, so that of two processes starting the
    same folder exactly one id wins and neither sees a partial file.
    """
    stored = read_wandb_id(run_dir)
    if stored is not None:
        return stored
    with atomic_path(run_dir / f".{WANDB_ID_FILE}.{os.getpid()}") as temporary:
        temporary.write_text(f"{run_id}\n")
    written = run_dir / f".{WANDB_ID_FILE}.{os.getpid()}"
    try:
        with contextlib.suppress(FileExistsError):
            os.link(written, run_dir / WANDB_ID_FILE)
    finally:
        written.unlink(missing_ok=True)
    return read_wandb_id(run_dir) or run_id


class KeepWandbId(Callback):
    """Writes ``<run folder>/wandb_id`` when the run starts (rank 0, once the CLI's checks have passed), so that a
    resumed run logs to the same W&B run."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.run_dir = run_dir
        self.run_id = run_id

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if trainer.is_global_zero:
            keep_wandb_id(self.run_dir, self.run_id)


class PreemptibleWandbLogger(WandbLogger):
    """A WandbLogger whose logging and finishing, once the run got a stop signal, survive W&B's service process having
    been killed with the run (:func:`~lightning_clocks.callbacks.interrupt.unless_stopping`)."""

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        with unless_stopping("logging"):
            super().log_metrics(metrics, step)

    def log_hyperparams(self, params: Any) -> None:
        with unless_stopping("logging"):
            super().log_hyperparams(params)

    def finalize(self, status: str) -> None:
        with unless_stopping("finishing"):
            super().finalize(status)


def default_loggers(
    run_dir: str, subcommand: str | None, options: WandbOptions, tags: list[str]
) -> tuple[list[Logger], list[Callback]]:
    """The loggers of a run folder and the callbacks they need: a CSV logger, and for ``fit`` the run folder's W&B
    run (its stored id, ``resume="allow"``, ``job_type="fit"``, ``tags`` plus ``options.tags``)."""
    loggers: list[Logger] = [CSVLogger(save_dir=run_dir, name="csv")]
    if subcommand != "fit" or not options.enabled:
        return loggers, []
    folder = Path(run_dir)
    run_id = read_wandb_id(folder) or new_wandb_id()
    settings: dict[str, Any] = {
        "job_type": "fit",
        "tags": list(dict.fromkeys([*tags, *options.tags])),
        "entity": options.entity,
        "group": options.group,
    }
    if options.mode is not None:
        settings["mode"] = options.mode
    wandb_logger = PreemptibleWandbLogger(
        save_dir=run_dir,
        name=folder.name,
        project=options.project or os.environ.get("WANDB_PROJECT", "lightning_clocks"),
        id=run_id,
        resume="allow",
        # W&B's own lines (and its closing sync hint, in colour) would follow clocks fit's closing line, which says
        # where the run went instead (wandb_note).
        settings={"silent": True},
        **{key: value for key, value in settings.items() if value is not None},
    )
    # Lightning passes anonymous=None, which wandb warns about on every run although it means "not set".
    wandb_logger._wandb_init.pop("anonymous", None)
    callbacks: list[Callback] = [KeepWandbId(folder, run_id)] if rank_zero_only.rank == 0 else []
    return [*loggers, wandb_logger], callbacks


def wandb_note(loggers: list[Logger]) -> str | None:
    """Where the run's W&B run went, for ``clocks fit``'s closing line: the ``wandb sync`` command of an offline
    run, the page of an online one; None without a started W&B run."""
    for logger in loggers:
        run = logger._experiment if isinstance(logger, WandbLogger) else None
        if run is None or getattr(run, "disabled", True):
            continue
        return f"W&B offline: wandb sync {Path(run.settings.sync_dir).resolve()}" if run.offline else f"W&B: {run.url}"
    return None


def new_wandb_id() -> str:
    """A fresh W&B run id: 8 random lower-case letters and digits, the form W&B gives its own ids."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
