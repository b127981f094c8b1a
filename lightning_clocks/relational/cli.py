"""``clocks ti-fit``: train a pair model on transitive inference with an exception and measure its clocks (SPEC §4).

The same LightningCLI as ``clocks fit`` (:class:`~lightning_clocks.trainer_cli.ClocksCLI`: one run folder,
``trainer.default_root_dir``, holding ``config.yaml``, ``curves.csv``, ``clocks.json``, checkpoints and the
CSV and W&B loggers' files; a folder that holds a run is refused unless resumed with ``--ckpt_path last``),
with the pieces of the pair task: ``data`` is the :class:`~lightning_clocks.relational.data.PairDataModule`,
``model`` a :class:`~lightning_clocks.relational.module.PairModule` (``PairMLPModule``,
``PairTransformerModule``, or the language model ``lightning_clocks.relational.lm.LanguageModelPairModule``),
``clocks`` the :class:`~lightning_clocks.relational.callback.PairClockCallback`. It has no subcommand: it
always fits. ``model.num_items`` is linked from ``data.num_items``: set it on the data, never on the model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser

from lightning_clocks.relational.callback import PairClockCallback
from lightning_clocks.relational.data import PairDataModule
from lightning_clocks.relational.module import PairModule
from lightning_clocks.trainer_cli import ClocksCLI, run_cli


class PairClocksCLI(ClocksCLI):
    """ClocksCLI for the pair task: the pair clock callback, checkpointing, and ``num_items`` linked to the model."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """Only ``fit`` (``clocks ti-fit`` always fits)."""
        return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"}}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(PairClockCallback, "clocks")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True, "checkpoint.every_n_train_steps": 1000})
        parser.link_arguments("data.num_items", "model.init_args.num_items", apply_on="instantiate")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``clocks ti-fit`` on ``argv`` (the arguments after ``ti-fit``); configuration errors raise ConfigError."""
    with warnings.catch_warnings():
        # `args` stands for the command line here, so Lightning's warning about also having sys.argv is moot.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        run_cli(
            ["fit", *(argv or [])],
            PairClocksCLI,
            PairModule,
            PairDataModule,
            prog="clocks ti-fit",
            description=__doc__.split("\n\n")[0],
        )
    return 0
