"""``clocks ti-fit``: train a pair model on transitive inference with an exception and measure its clocks.

The same LightningCLI as ``clocks fit`` (:class:`~lightning_clocks.fit.ClocksCLI`: one run folder,
``trainer.default_root_dir``, holding ``config.yaml``, ``curves.csv``, ``clocks.json``, checkpoints and the
CSV and W&B loggers' files; a folder that holds a run is refused unless resumed with ``--ckpt_path last``),
with the pieces of the pair task: ``data`` is the :class:`~lightning_clocks.relational.data.PairDataModule`,
``model`` a :class:`~lightning_clocks.relational.module.PairModule` (``PairMLPModule``,
``PairTransformerModule``, or the language model ``lightning_clocks.relational.lm.LanguageModelPairModule``),
``clocks`` the :class:`~lightning_clocks.relational.callback.PairClockCallback`. It has no subcommand: it
always fits. ``model.num_items`` is linked from ``data.num_items``: set it on the data, never on the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from lightning_clocks.fit import ClocksCLI, run_cli
from lightning_clocks.relational.callback import PairClockCallback
from lightning_clocks.relational.data import PairDataModule
from lightning_clocks.relational.module import PairModule


class PairClocksCLI(ClocksCLI):
    """ClocksCLI for the pair task: the pair clock callback, and ``num_items`` linked to the model."""

    clock_class = PairClockCallback

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """Only ``fit`` (``clocks ti-fit`` always fits)."""
        return {"fit": {"model", "train_dataloaders", "val_dataloaders", "datamodule"}}

    linked_model_keys: ClassVar[dict[str, str]] = {"num_items": "num_items"}


def fit_pairs(argv: Sequence[str]) -> PairClocksCLI:
    """Run ``clocks ti-fit`` on ``argv`` (the arguments after ``ti-fit``); configuration errors raise ConfigError."""
    return run_cli(
        ["fit", *argv],
        PairClocksCLI,
        PairModule,
        PairDataModule,
        prog="clocks ti-fit",
        description=__doc__.split("\n\n")[0],
    )
