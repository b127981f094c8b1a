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

from jsonargparse import Namespace
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.data import RuleDataModule
from lightning_clocks.errors import ConfigError
from lightning_clocks.modules import GenerativeModule
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

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        run_dir = config.trainer.default_root_dir or "runs/default"
        config.trainer.default_root_dir = run_dir
        if config.checkpoint.dirpath is None:
            config.checkpoint.dirpath = str(Path(run_dir) / "checkpoints")
        if config.trainer.logger in (None, True):
            config.trainer.logger = default_loggers(run_dir)

    def before_fit(self) -> None:
        """Refuse impossible schedules and overwriting a finished run, before anything is written."""
        clock = next(cb for cb in self.trainer.callbacks if isinstance(cb, ClockCallback))
        clock.resolve_schedule(self.trainer.max_steps)
        curves = Path(self.trainer.default_root_dir) / CURVES_FILE
        if curves.exists() and self.config[self.subcommand].ckpt_path is None:
            raise ConfigError(
                f"trainer.default_root_dir={self.trainer.default_root_dir} already holds a run ({curves}); "
                "choose another --trainer.default_root_dir, or resume it with --ckpt_path last"
            )


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


def resolve_rule_names(args: list[str]) -> list[str]:
    """Translate ``--data.rule=NAME`` (a registry name such as ``sudoku``) into the rule's class path.

    Class names (``Sudoku``) and class paths pass through unchanged; an unknown lower-case name is a
    ConfigError listing the allowed names.
    """
    resolved = list(args)
    for index, arg in enumerate(resolved):
        if arg.startswith("--data.rule="):
            position, value = index, arg.split("=", 1)[1]
        elif arg == "--data.rule" and index + 1 < len(resolved):
            position, value = index + 1, resolved[index + 1]
        else:
            continue
        if value in RULES:
            rule_class = RULES[value]
            path = f"{rule_class.__module__}.{rule_class.__name__}"
            resolved[position] = f"--data.rule={path}" if position == index else path
        elif value.islower() and "." not in value and not value.startswith(("{", "[")):
            raise ConfigError(f"data.rule={value!r} is unknown; allowed rules: {sorted(RULES)}")
    return resolved


def run_cli(args: list[str] | None = None) -> ClocksCLI:
    """Build and run the CLI on ``args`` (default: the command line)."""
    os.environ.setdefault("WANDB_MODE", "offline")
    return ClocksCLI(
        GenerativeModule,
        RuleDataModule,
        subclass_mode_model=True,
        save_config_callback=RunConfigCallback,
        save_config_kwargs={"overwrite": True, "save_to_log_dir": False},
        seed_everything_default=0,
        trainer_defaults={"max_epochs": -1},
        args=args,
    )
