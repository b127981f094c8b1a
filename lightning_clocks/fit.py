"""``clocks fit`` and ``clocks validate``: a LightningCLI whose run folder holds everything of one run.

``trainer.default_root_dir`` is the run folder. Unless the config names loggers, the CLI attaches a
CSV logger and, for ``fit``, the run folder's one W&B run (:mod:`lightning_clocks.loggers`) writing there;
checkpoints go to ``<run folder>/checkpoints`` unless ``checkpoint.dirpath`` is set. The model's
``sequence_length`` and ``vocab_size`` are linked from the data's rule: set them on the rule
(``--data.rule.length``), never on the model. :func:`build_run` builds what a config would train
without training it, for every command that needs a run's model and data (ensemble, basins,
benchmarks).
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml
from jsonargparse import ArgumentError, Namespace
from lightning import LightningDataModule, LightningModule, Trainer
from lightning.fabric.plugins import CheckpointIO
from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment
from lightning.fabric.utilities.seed import seed_everything
from lightning.pytorch.accelerators import AcceleratorRegistry
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.strategies import StrategyRegistry
from lightning.pytorch.utilities import rank_zero_only

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.callbacks.ema import EMAOptions, checkpoint_ema_decay
from lightning_clocks.callbacks.interrupt import InterruptCheckpoint
from lightning_clocks.callbacks.progress import StepProgressBar
from lightning_clocks.checkpoints import (
    AtomicCheckpointIO,
    CheckpointError,
    load_checkpoint,
    refuse_crafted_paths,
    resolve_last,
)
from lightning_clocks.cli import reword_parse_error
from lightning_clocks.data import RuleDataModule
from lightning_clocks.errors import ConfigError, check_folder_name
from lightning_clocks.feedback import closing_line, quiet_screen
from lightning_clocks.loggers import WandbOptions, default_loggers, run_tags, wandb_note
from lightning_clocks.modules import AutoregressiveModule, DiffusionModule, GenerativeModule
from lightning_clocks.results import CHECKPOINTS_FOLDER, CONFIG_FILE, CURVES_FILE, atomic_write_text, is_run_folder
from lightning_clocks.resume import CONFIG_KEY, RESUMES_KEY, check_resume, resume_history
from lightning_clocks.rules import RULES
from lightning_clocks.run_lock import run_lock

#: Checkpointing defaults of every clocks CLI: ``last.ckpt`` always, and a checkpoint every 1,000 steps. A run
#: folder belongs to one run (it is locked while trained), so files are replaced, never versioned
#: (``last-v1.ckpt``): a moved or shared run folder resumes into its own ``last.ckpt``.
CHECKPOINT_DEFAULTS = {
    "checkpoint.save_last": True,
    "checkpoint.every_n_train_steps": 1000,
    "checkpoint.enable_version_counter": False,
}


#: Intra-op CPU threads of a run unless ``--threads`` says otherwise: one, because the sums of a matrix product are
#: split by thread count, so results differ in their last digits (and clocks by a few percent) between thread counts,
#: and because these small models run no faster on more threads (docs/determinism.md).
DEFAULT_THREADS = 1
THREADS_HELP = (
    "intra-op CPU threads (torch.set_num_threads), also on GPU runs; recorded in clocks.json; results depend on it "
    f"in their last digits. 0 or null: torch's default (OMP_NUM_THREADS, else the cores). Default {DEFAULT_THREADS}."
)


def set_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count to ``threads`` (0 or None: leave torch's default); refuse a negative one."""
    if threads is not None and threads < 0:
        raise ConfigError(
            f"threads={threads} is invalid; allowed: an integer >= 1, or 0 or null for torch's default "
            f"({torch.get_num_threads()} here)"
        )
    if threads:
        torch.set_num_threads(threads)


class RunConfigCallback(SaveConfigCallback):
    """Saves the resolved ``config.yaml`` in the run folder (rank 0, ``fit`` only: ``validate`` reads a run and
    never writes its config), puts the full config in W&B, and stores the config and the settings changed at
    resumes in every checkpoint (:mod:`lightning_clocks.resume`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The settings changed at this and earlier resumes (:func:`~lightning_clocks.resume.resume_history`).
        self.resumes: list[dict[str, Any]] = []

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        run_dir = Path(trainer.default_root_dir)
        atomic_write_text(run_dir / self.config_filename, self.parser.dump(self.config, skip_none=False))
        full_config = json.loads(self.parser.dump(self.config, skip_none=False, format="json"))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.config.update(full_config, allow_val_change=True)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        """Store the run's resolved config and its resume record, which the next resume compares with its own."""
        checkpoint[CONFIG_KEY] = json.loads(self.parser.dump(self.config, skip_none=False, format="json"))
        checkpoint[RESUMES_KEY] = self.resumes


class ClocksCLI(LightningCLI):
    """LightningCLI with a clock callback, checkpointing and loggers wired to one run folder.

    Subclasses (the pair task's) change :attr:`clock_class` and :attr:`linked_model_keys`.
    """

    #: The clock callback, configured under ``clocks``.
    clock_class: type[Callback] = ClockCallback
    #: The model's arguments set from the data (model key: data attribute); never given by the user.
    linked_model_keys: ClassVar[dict[str, str]] = {"sequence_length": "sequence_length", "vocab_size": "vocab_size"}

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """``fit`` and ``validate`` only: the clocks are measured while training, so ``test`` and ``predict``
        would have nothing to do."""
        return {
            "fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"},
            "validate": {"model", "dataloaders", "datamodule"},
        }

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(self.clock_class, "clocks")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(CHECKPOINT_DEFAULTS)
        parser.add_class_arguments(WandbOptions, "wandb")
        parser.add_class_arguments(EMAOptions, "ema")
        parser.add_argument("--threads", type=int | None, default=DEFAULT_THREADS, help=THREADS_HELP)
        for model_key, data_key in self.linked_model_keys.items():
            parser.link_arguments(f"data.{data_key}", f"model.init_args.{model_key}", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, rewording jsonargparse's errors into one line that lists the allowed options."""
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as error:
            raise ConfigError(reword_parse_error(str(error), option_names(parser))) from None

    def _parse_ckpt_path(self) -> None:
        """Keep the config authoritative: Lightning would silently replace the model with the checkpoint's.

        A checkpoint that does not match the config is refused by :func:`check_checkpoint_matches` instead.
        """

    def _set_seed(self) -> None:
        """Set the run's CPU thread count, then seed without Lightning's "Seed set to" line (the seed is in
        ``config.yaml`` and ``clocks.json``): both before anything is built, so that the first weights and batches
        already come from them."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        set_threads(config.threads)
        if config.seed_everything is not False:
            seed = None if config.seed_everything is True else config.seed_everything  # True: a random seed
            config.seed_everything = seed_everything(seed, workers=True, verbose=False)

    def instantiate_classes(self) -> None:
        """Build the run's objects, then refuse every impossible setting before anything is written."""
        super().instantiate_classes()
        self.check_run(self.config[self.subcommand] if self.subcommand else self.config)

    def check_run(self, config: Namespace) -> None:
        """Refuse, before the run folder is touched: model keys that the data sets, an impossible evaluation
        schedule or near-copy distance, and a checkpoint that is unreadable or belongs to another run."""
        defaults = inspect.signature(type(self.model)).parameters
        for model_key, data_key in self.linked_model_keys.items():
            given, linked = config.model.init_args.get(model_key), getattr(self.datamodule, data_key)
            default = defaults[model_key].default if model_key in defaults else None
            if given not in (default, linked):
                raise ConfigError(
                    f"model.{model_key}={given!r} cannot be set: it is linked from the data (here {linked}); "
                    f"allowed: leave it out and set it on the data (data.{data_key} or the rule's options)"
                )
        clock = self._get(self.config_init, "clocks")
        if self.subcommand in ("fit", None):
            clock.resolve_schedule(config.trainer.max_steps if config.trainer.max_steps is not None else -1)
        clock.check_data(self.datamodule)
        if self.subcommand is None:
            return  # the parts of a run, without a Trainer: no checkpoint to check
        if self.subcommand == "validate" and config.ckpt_path is None:
            raise ConfigError("ckpt_path is required by validate: give a checkpoint file, or 'last'")
        self._check_checkpoint(config.ckpt_path)

    def before_instantiate_classes(self) -> None:
        """Make the run folder explicit; the paths derived from it are set on the instances, not in the config, so a
        saved ``config.yaml`` rerun with another ``--trainer.default_root_dir`` writes nothing into this run."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        config.trainer.default_root_dir = config.trainer.default_root_dir or "runs/default"
        check_folder_name("trainer.default_root_dir", config.trainer.default_root_dir)
        max_steps = config.trainer.max_steps
        if max_steps is not None and max_steps != -1 and max_steps < 1:
            raise ConfigError(f"trainer.max_steps={max_steps} is invalid; allowed: -1 (no limit) or an integer >= 1")
        check_accelerator(config.trainer.accelerator)
        strategy = config.trainer.strategy
        strategies = ["auto", *StrategyRegistry.available_strategies()]
        if isinstance(strategy, str) and strategy not in strategies:
            raise ConfigError(f"trainer.strategy={strategy!r} is unknown; allowed: {strategies}")
        run_dir = Path(config.trainer.default_root_dir)
        refuse_foreign_path("checkpoint.dirpath", config.checkpoint.dirpath, run_dir)
        refuse_linked_checkpoints(Path(config.checkpoint.dirpath or run_dir / CHECKPOINTS_FOLDER))
        for logger in config.trainer.logger if isinstance(config.trainer.logger, list) else [config.trainer.logger]:
            save_dir = getattr(getattr(logger, "init_args", None), "save_dir", None)
            refuse_foreign_path("trainer.logger save_dir", save_dir, run_dir)

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        """The Trainer with the run folder's defaults: checkpoints in ``<run>/checkpoints``, the default loggers
        (:mod:`lightning_clocks.loggers`; none for ``validate``), a progress bar over steps, atomic weights-only
        checkpoint input/output, and a clean stop at a step boundary on Ctrl+C, SIGTERM or SIGUSR1 (without
        Lightning's Slurm requeue)."""
        run_dir = config["default_root_dir"]
        if self.subcommand == "validate":
            config["logger"] = False  # validate reads a run: it writes validate.json and nothing else there
        elif config.get("logger") in (None, True):
            wandb_options = self._get(self.config_init, "wandb")
            tags = run_tags(self.model, self.datamodule)
            config["logger"], logger_callbacks = default_loggers(run_dir, self.subcommand, wandb_options, tags)
            callbacks = [*callbacks, *logger_callbacks]
        if config.get("enable_progress_bar") is not False and not any(
            isinstance(callback, ProgressBar) for callback in [*callbacks, *(config.get("callbacks") or [])]
        ):
            callbacks = [*callbacks, StepProgressBar()]
        for callback in callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
                callback.dirpath = str(Path(run_dir, CHECKPOINTS_FOLDER).resolve())
        plugins = config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, list) else [plugins]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            checkpointing = [*callbacks, *(config.get("callbacks") or [])]
            folders = [Path(cb.dirpath) for cb in checkpointing if isinstance(cb, ModelCheckpoint) and cb.dirpath]
            plugins = [*plugins, AtomicCheckpointIO(folders or [Path(run_dir, CHECKPOINTS_FOLDER)])]
        if SLURMEnvironment.detect() and not any(isinstance(plugin, ClusterEnvironment) for plugin in plugins):
            # Lightning's Slurm auto-requeue saves inside its signal handler (a DDP deadlock); InterruptCheckpoint
            # saves at a step boundary instead, and the sbatch script requeues (lightning_clocks.sweep.slurm).
            plugins = [*plugins, SLURMEnvironment(auto_requeue=False)]
        config["plugins"] = plugins
        ema = self._get(self.config_init, "ema").callback() if self.subcommand == "fit" else None
        if ema is not None:
            callbacks = [ema, *callbacks]  # first, so that a step's measurements see that step's average
        trainer = super()._instantiate_trainer(config, [*callbacks, InterruptCheckpoint()])
        # Lightning runs checkpointing callbacks last; the interrupt callback must run after every measurement too.
        trainer.callbacks.sort(key=lambda callback: isinstance(callback, (InterruptCheckpoint, ModelCheckpoint)))
        return trainer

    def _run_subcommand(self, subcommand: str) -> None:
        """Run ``fit`` holding the run folder's lock (rank 0 only), so no second process can write into it; run
        ``validate`` without Lightning's warning about the checkpoint's training callbacks."""
        if subcommand == "validate":
            with warnings.catch_warnings():
                # validate measures a checkpoint's weights (the average, for an EMA run) without its training
                # callbacks, on purpose: Lightning's advice to add them back does not apply.
                warnings.filterwarnings("ignore", message="Be aware that when using `ckpt_path`, callbacks used")
                super()._run_subcommand(subcommand)
            return
        if subcommand != "fit" or rank_zero_only.rank != 0:
            super()._run_subcommand(subcommand)
            return
        with run_lock(Path(self.trainer.default_root_dir)):
            super()._run_subcommand(subcommand)

    def before_fit(self) -> None:
        """Refuse overwriting a finished or started run (checked under the run's lock)."""
        curves = Path(self.trainer.default_root_dir) / CURVES_FILE
        if curves.exists() and self.config_init[self.subcommand].ckpt_path is None:
            raise ConfigError(
                f"trainer.default_root_dir={self.trainer.default_root_dir} already holds a run ({curves}); "
                "choose another --trainer.default_root_dir, or resume it with --ckpt_path last"
            )

    def after_fit(self) -> None:
        """End with one line: the clocks, the window, the run folder and where its W&B run went (rank 0, when the
        run measured any)."""
        if not self.trainer.is_global_zero:
            return
        line = closing_line(Path(self.trainer.default_root_dir), wandb_note(self.trainer.loggers))
        if line is not None:
            print(line, flush=True)

    def _check_checkpoint(self, ckpt_path: str | None) -> None:
        """Resolve ``last`` to the newest intact checkpoint of the run (Lightning's pre-emption ``hpc_ckpt_*``
        included), make explicit the ``hpc_ckpt_*`` that Lightning would resume by itself under Slurm, and refuse
        a checkpoint that is unreadable, runs code, belongs to another model or rule, points Lightning at files
        outside the run, or (``fit``) was trained under other experiment settings."""
        if ckpt_path is None and self.subcommand == "fit":
            ckpt_path = self._slurm_resume_path()
        if ckpt_path is None:
            return
        if ckpt_path == "last":
            checkpointing = next(cb for cb in self.trainer.callbacks if isinstance(cb, ModelCheckpoint))
            newest = resolve_last(Path(self.trainer.default_root_dir), Path(checkpointing.dirpath))
            if newest is None:
                return  # no checkpoint yet: Lightning starts from scratch, as a pre-empted job's first start needs
            ckpt_path = str(newest)
        elif not Path(ckpt_path).is_file():
            raise ConfigError(f"ckpt_path={ckpt_path} does not exist; give a checkpoint file, or 'last'")
        self.config_init[self.subcommand].ckpt_path = ckpt_path
        try:
            ema = self._get(self.config_init, "ema") if self.subcommand == "fit" else None
            check_checkpoint_matches(ckpt_path, self.model, self.datamodule, ema)
            checkpoint = load_checkpoint(ckpt_path)
            for callback in self.trainer.callbacks:
                if isinstance(callback, ModelCheckpoint) and callback.dirpath:
                    refuse_crafted_paths(ckpt_path, checkpoint, Path(callback.dirpath))
        except CheckpointError as error:
            raise ConfigError(f"ckpt_path={ckpt_path}: {error}") from None
        if self.subcommand == "fit":
            self._check_same_experiment(ckpt_path, checkpoint)

    def _slurm_resume_path(self) -> str | None:
        """The ``hpc_ckpt_*.ckpt`` that Lightning resumes by itself under Slurm when ``ckpt_path`` is None, or None."""
        if not SLURMEnvironment.detect():
            return None
        return self.trainer._checkpoint_connector._hpc_resume_path  # Lightning's own choice, so ours cannot differ

    def _check_same_experiment(self, ckpt_path: str, checkpoint: dict[str, Any]) -> None:
        """Refuse a resume that changes the experiment (:mod:`lightning_clocks.resume`); record allowed changes."""
        parser = self._parser(self.subcommand)
        current = json.loads(parser.dump(self.config[self.subcommand], skip_none=False, format="json"))
        changes = check_resume(ckpt_path, checkpoint, current)
        for callback in self.trainer.callbacks:
            if isinstance(callback, RunConfigCallback):
                callback.resumes = resume_history(checkpoint, changes)


def check_accelerator(accelerator: Any) -> None:
    """Refuse an accelerator that Lightning knows but this machine lacks (a named one only; objects pass)."""
    if not isinstance(accelerator, str) or accelerator == "auto":
        return
    registry = AcceleratorRegistry
    if accelerator in registry and not registry[accelerator]["accelerator"].is_available():
        available = [name for name in registry.available_accelerators() if registry[name]["accelerator"].is_available()]
        raise ConfigError(
            f"trainer.accelerator={accelerator!r} is not available on this machine; allowed: {['auto', *available]}"
        )


def option_names(parser: LightningArgumentParser) -> list[str]:
    """Every option name of ``parser`` and of its subcommands' parsers (``clocks.num_samples``, ...)."""
    names = []
    for action in parser._actions:  # jsonargparse keeps argparse's action list
        names += [option.lstrip("-") for option in action.option_strings if option.startswith("--")]
        for subparser in (getattr(action, "choices", None) or {}).values():
            if isinstance(subparser, LightningArgumentParser):
                names += option_names(subparser)
    return names


def refuse_foreign_path(option: str, path: str | None, run_dir: Path) -> None:
    """Raise a ConfigError when ``path`` lies in another run's folder: a ``config.yaml`` of an earlier version
    stored its run's derived paths, and rerunning it elsewhere would write into that run."""
    if path is None:
        return
    run, resolved = run_dir.resolve(), Path(path).resolve()
    if resolved == run or run in resolved.parents:
        return
    for folder in resolved.parents:
        if (folder / CONFIG_FILE).exists() or is_run_folder(folder):
            raise ConfigError(
                f"{option}={path} lies in the run folder {folder}, not in trainer.default_root_dir={run_dir}; "
                f"drop {option} from the config (it defaults to a folder of the run)"
            )


def refuse_linked_checkpoints(folder: Path) -> None:
    """Raise a ConfigError when the run's checkpoint folder is a link: two run folders linking one folder would
    overwrite each other's ``last.ckpt`` and resume each other's weights."""
    if folder.is_symlink():
        raise ConfigError(
            f"checkpoint.dirpath={folder} is a link to {folder.resolve()}; allowed: a real folder of this run (a "
            "shared one would mix runs): replace the link by a folder, or move the whole run folder instead"
        )


#: Short names accepted on the command line, per option, and the classes they stand for.
SHORT_NAMES: dict[str, dict[str, type]] = {
    "data.rule": RULES,
    "model": {"dit": DiffusionModule, "gpt": AutoregressiveModule},
}


def resolve_short_names(args: Sequence[str]) -> list[str]:
    """Translate ``--data.rule=NAME`` (e.g. ``sudoku``) and ``--model=NAME`` (``dit``, ``gpt``) into class paths,
    also after ``.help`` (``--model.help gpt``).

    Class names (``Sudoku``) and class paths pass through unchanged; an unknown lower-case name is a
    ConfigError listing the allowed names.
    """
    resolved = list(args)
    for index, arg in enumerate(resolved):
        for option, names in SHORT_NAMES.items():
            for flag in (f"--{option}", f"--{option}.help"):
                if arg.startswith(f"{flag}="):
                    position, value = index, arg.split("=", 1)[1]
                elif arg == flag and index + 1 < len(resolved):
                    position, value = index + 1, resolved[index + 1]
                else:
                    continue
                if value in names:
                    path = f"{names[value].__module__}.{names[value].__name__}"
                    resolved[position] = f"{flag}={path}" if position == index else path
                elif value.islower() and "." not in value and not value.startswith(("{", "[")):
                    raise ConfigError(f"{option}={value!r} is unknown; allowed: {sorted(names)}")
    return resolved


def load_weights(module: LightningModule, ckpt_path: str | os.PathLike[str]) -> int:
    """Load the weights of ``ckpt_path`` into ``module`` (weights-only: a checkpoint can never run code) and return
    the checkpoint's optimizer step."""
    checkpoint = load_checkpoint(ckpt_path)
    module.load_state_dict(checkpoint["state_dict"])
    return int(checkpoint["global_step"])


def check_checkpoint_matches(
    ckpt_path: str, model: LightningModule, data: LightningDataModule, ema: EMAOptions | None = None
) -> None:
    """Refuse, before anything runs, a checkpoint that cannot be loaded weights-only or was trained with another
    model class, shape or rule, or (resuming, ``ema`` given) with other EMA weights."""
    checkpoint = load_checkpoint(ckpt_path)
    trained_decay = checkpoint_ema_decay(checkpoint)
    if ema is not None and trained_decay != ema.decay:
        trained, given = ("null" if decay is None else decay for decay in (trained_decay, ema.decay))
        raise ConfigError(
            f"ckpt_path={ckpt_path} was trained with ema.decay={trained}, but this config has ema.decay={given}; "
            "resume with the run's own config.yaml"
        )
    saved = checkpoint.get("hyper_parameters", {})
    wanted = {"_class_path": f"{type(model).__module__}.{type(model).__name__}", **dict(model.hparams)}
    for key in ("_class_path", "sequence_length", "vocab_size"):
        if key in saved and saved[key] != wanted.get(key):
            raise ConfigError(
                f"ckpt_path={ckpt_path} was trained with model {key}={saved[key]!r}, but this config has "
                f"{wanted.get(key)!r}; resume with the run's own config.yaml"
            )
    rule = data.rule.describe() if hasattr(data, "rule") else None
    for key, state in checkpoint.get("callbacks", {}).items():
        if "Clock" in key and isinstance(state, dict) and state.get("rule") not in (None, rule):
            raise ConfigError(
                f"ckpt_path={ckpt_path} was trained on rule {state['rule']}, but this config has rule "
                f"{rule}; resume with the run's own config.yaml"
            )


def run_cli(
    args: Sequence[str] | None = None,
    cli_class: type[ClocksCLI] = ClocksCLI,
    model_class: type[LightningModule] = GenerativeModule,
    datamodule_class: type[LightningDataModule] = RuleDataModule,
    run: bool = True,
    **parser_kwargs: Any,
) -> ClocksCLI:
    """Build a clocks CLI on ``args`` and, with ``run``, run its subcommand (``args[0]``: fit or validate).

    Without ``run``, ``args`` has no subcommand and the CLI only builds what a run would use
    (``cli.model``, ``cli.datamodule``, ``cli.trainer``). W&B is offline unless ``WANDB_MODE`` says otherwise.
    Options are never abbreviated (``--clocks.num_sample`` is an error, not ``num_samples``).
    """
    os.environ.setdefault("WANDB_MODE", "offline")
    # `args` stands for the command line here, so Lightning's warning about also having sys.argv is moot.
    with quiet_screen("LightningCLI's args parameter"):
        return cli_class(
            model_class,
            datamodule_class,
            subclass_mode_model=True,
            save_config_callback=RunConfigCallback,
            save_config_kwargs={"overwrite": True, "save_to_log_dir": False},
            seed_everything_default=0,
            trainer_defaults={"max_epochs": -1},
            parser_kwargs={"allow_abbrev": False, "exit_on_error": False, **parser_kwargs},
            # The module owns its optimizer and schedule (recorded in clocks.json): no --optimizer/--lr_scheduler.
            auto_configure_optimizers=False,
            args=list(args) if args is not None else None,
            run=run,
        )


def fit(argv: Sequence[str]) -> int:
    """``clocks fit``: train the configured model and measure its clocks."""
    run_cli(["fit", *resolve_short_names(argv)], prog="clocks")
    return 0


def validate(argv: Sequence[str]) -> int:
    """``clocks validate``: evaluate a checkpoint's weights once and write ``validate.json``."""
    run_cli(["validate", *resolve_short_names(argv)], prog="clocks")
    return 0


# ----------------------------------------------------------------------------- a run's parts, without training
class PartsCLI(ClocksCLI):
    """The fit CLI up to the model, data and callbacks of one run (seeded first, as fit seeds them); no Trainer."""

    def instantiate_trainer(self, **kwargs: Any) -> None:
        """No Trainer: whoever builds the parts trains or measures them."""


@dataclass
class RunParts:
    """What ``clocks fit --config FILE OVERRIDES`` would train: the model, the data (set up), the clock callback,
    the Trainer's arguments (instantiated, callbacks included) and the resolved config."""

    model: GenerativeModule
    data: RuleDataModule
    clock: ClockCallback
    trainer_options: dict[str, Any]
    config: Namespace

    @property
    def max_steps(self) -> int:
        return int(self.config.trainer.max_steps)


def build_run(
    config: str | os.PathLike[str], overrides: Sequence[str] = (), prog: str = "clocks", setup: bool = True
) -> RunParts:
    """Build the model, data and callbacks of ``clocks fit --config CONFIG OVERRIDES`` without training or writing.

    ``config`` may be a run's saved ``config.yaml``: its options of ``fit`` alone (``ckpt_path``, ...) are left out.
    Without ``setup`` the data's training set is not drawn (only the run's settings are checked).
    """
    settings = yaml.safe_load(Path(config).read_text())
    if isinstance(settings, dict):
        fit_only = set(inspect.signature(Trainer.fit).parameters) - ClocksCLI.subcommands()["fit"] - {"self"}
        settings = {key: value for key, value in settings.items() if key not in fit_only}
    arguments = ["--config", yaml.safe_dump(settings), *resolve_short_names(overrides), "--trainer.logger=false"]
    cli = run_cli(arguments, PartsCLI, run=False, prog=prog)
    if setup:
        cli.datamodule.setup("fit")
    return RunParts(cli.model, cli.datamodule, cli.config_init.clocks, dict(cli.config_init.trainer), cli.config)
