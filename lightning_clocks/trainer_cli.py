"""``clocks fit`` / ``clocks validate``: a LightningCLI whose run folder holds everything of one run (SPEC §5).

``trainer.default_root_dir`` is the run folder. Unless the config names loggers, the CLI
attaches a CSV logger and a W&B logger (offline unless ``WANDB_MODE`` says otherwise) writing
there; checkpoints go to ``<run folder>/checkpoints`` unless ``checkpoint.dirpath`` is set.
The model's ``sequence_length`` and ``vocab_size`` are linked from the data's rule: set them on
the rule (``--data.rule.length``), never on the model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from jsonargparse import Namespace
from lightning import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.data import RuleDataModule
from lightning_clocks.errors import ConfigError
from lightning_clocks.modules import AutoregressiveModule, DiffusionModule, GenerativeModule
from lightning_clocks.results import CURVES_FILE, atomic_write_text
from lightning_clocks.rules import RULES


class RunConfigCallback(SaveConfigCallback):
    """Saves the resolved ``config.yaml`` in the run folder (rank 0) and puts the full config in W&B."""

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        run_dir = Path(trainer.default_root_dir)
        atomic_write_text(run_dir / self.config_filename, self.parser.dump(self.config, skip_none=False))
        full_config = json.loads(self.parser.dump(self.config, skip_none=False, format="json"))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.config.update(full_config, allow_val_change=True)


class ClocksCLI(LightningCLI):
    """LightningCLI with the ClockCallback, checkpointing and loggers wired to one run folder."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ClockCallback, "clocks")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True, "checkpoint.every_n_train_steps": 1000})
        parser.link_arguments("data.sequence_length", "model.init_args.sequence_length", apply_on="instantiate")
        parser.link_arguments("data.vocab_size", "model.init_args.vocab_size", apply_on="instantiate")

    def _parse_ckpt_path(self) -> None:
        """Keep the config authoritative: Lightning would silently replace the model with the checkpoint's.

        A checkpoint that does not match the config is refused by :func:`check_checkpoint_matches` instead.
        """

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        run_dir = config.trainer.default_root_dir or "runs/default"
        config.trainer.default_root_dir = run_dir
        if config.checkpoint.dirpath is None:
            config.checkpoint.dirpath = str(Path(run_dir) / "checkpoints")
        if config.trainer.logger in (None, True):
            config.trainer.logger = default_loggers(run_dir)

    def before_fit(self) -> None:
        """Refuse impossible schedules, overwriting a run and foreign checkpoints, before anything is written."""
        clock = next(cb for cb in self.trainer.callbacks if isinstance(cb, ClockCallback))
        clock.resolve_schedule(self.trainer.max_steps)
        curves = Path(self.trainer.default_root_dir) / CURVES_FILE
        ckpt_path = self.config[self.subcommand].ckpt_path
        if curves.exists() and ckpt_path is None:
            raise ConfigError(
                f"trainer.default_root_dir={self.trainer.default_root_dir} already holds a run ({curves}); "
                "choose another --trainer.default_root_dir, or resume it with --ckpt_path last"
            )
        self._check_checkpoint(ckpt_path)

    def before_validate(self) -> None:
        """Refuse a missing or foreign checkpoint before evaluating it."""
        self._check_checkpoint(self.config[self.subcommand].ckpt_path)

    def _check_checkpoint(self, ckpt_path: str | None) -> None:
        if ckpt_path is None:
            return
        if ckpt_path == "last":
            ckpt_path = str(Path(self.config[self.subcommand].checkpoint.dirpath) / "last.ckpt")
            if not Path(ckpt_path).exists():
                return  # Lightning starts from scratch (with a warning): what a pre-empted job's first start needs
        if not Path(ckpt_path).is_file():
            raise ConfigError(f"ckpt_path={ckpt_path} does not exist; give a checkpoint file, or 'last'")
        check_checkpoint_matches(ckpt_path, self.model, self.datamodule)


def default_loggers(run_dir: str) -> list[Namespace]:
    """A CSV logger and a W&B logger, both writing inside ``run_dir``."""
    return [
        Namespace(
            class_path="lightning.pytorch.loggers.CSVLogger",
            init_args=Namespace(save_dir=run_dir, name="csv"),
        ),
        Namespace(
            class_path="lightning.pytorch.loggers.WandbLogger",
            init_args=Namespace(
                save_dir=run_dir,
                name=Path(run_dir).name,
                project=os.environ.get("WANDB_PROJECT", "lightning_clocks"),
            ),
        ),
    ]


#: Short names accepted on the command line, per option, and the classes they stand for.
SHORT_NAMES: dict[str, dict[str, type]] = {
    "data.rule": dict(RULES),
    "model": {"dit": DiffusionModule, "gpt": AutoregressiveModule},
}


def resolve_short_names(args: list[str]) -> list[str]:
    """Translate ``--data.rule=NAME`` (e.g. ``sudoku``) and ``--model=NAME`` (``dit``, ``gpt``) into class paths.

    Class names (``Sudoku``) and class paths pass through unchanged; an unknown lower-case name is a
    ConfigError listing the allowed names.
    """
    resolved = list(args)
    for index, arg in enumerate(resolved):
        for option, names in SHORT_NAMES.items():
            flag = f"--{option}"
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


def check_checkpoint_matches(ckpt_path: str, model: GenerativeModule, data: RuleDataModule) -> None:
    """Refuse a checkpoint trained on another model class, shape or rule (before anything runs)."""
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    saved = checkpoint.get("hyper_parameters", {})
    wanted = {"_class_path": f"{type(model).__module__}.{type(model).__name__}", **dict(model.hparams)}
    for key in ("_class_path", "sequence_length", "vocab_size"):
        if key in saved and saved[key] != wanted.get(key):
            raise ConfigError(
                f"ckpt_path={ckpt_path} was trained with model {key}={saved[key]!r}, but this config has "
                f"{wanted.get(key)!r}; resume with the run's own config.yaml"
            )
    for key, state in checkpoint.get("callbacks", {}).items():
        if key.startswith("ClockCallback") and state.get("rule") not in (None, data.rule.describe()):
            raise ConfigError(
                f"ckpt_path={ckpt_path} was trained on rule {state['rule']}, but this config has rule "
                f"{data.rule.describe()}; resume with the run's own config.yaml"
            )


def run_cli(
    args: list[str] | None = None,
    cli_class: type[ClocksCLI] = ClocksCLI,
    model_class: type[LightningModule] = GenerativeModule,
    datamodule_class: type[LightningDataModule] = RuleDataModule,
    run: bool = True,
    **parser_kwargs: object,
) -> ClocksCLI:
    """Build a clocks CLI on ``args`` (default: the command line) and, with ``run``, run its subcommand.

    Without ``run``, ``args`` has no subcommand and the CLI only builds what a run would use
    (``cli.model``, ``cli.datamodule``, ``cli.trainer``): what benchmarks and notebooks need.
    W&B is offline unless ``WANDB_MODE`` says otherwise.
    """
    os.environ.setdefault("WANDB_MODE", "offline")
    return cli_class(
        model_class,
        datamodule_class,
        subclass_mode_model=True,
        save_config_callback=RunConfigCallback,
        save_config_kwargs={"overwrite": True, "save_to_log_dir": False},
        seed_everything_default=0,
        trainer_defaults={"max_epochs": -1},
        parser_kwargs=parser_kwargs or None,
        args=args,
        run=run,
    )
