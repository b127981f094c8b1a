"""``clocks ensemble``: train one config with several seeds in one process, each seed with its own clocks.

    clocks ensemble --config configs/quickstart.yaml --seeds 0,1,2,3 [--out DIR] [-- --trainer.max_steps=2000]

Member s is built exactly as ``clocks fit --config FILE --seed_everything=s --data.seed=s`` builds its run
(same initial weights, training set, control set and batch stream); then all members train together
(:mod:`lightning_clocks.ensemble`) with the config's trainer settings. Member s writes ``curves.csv`` and
``clocks.json`` to ``<out>/seed-<s>`` (``--out`` defaults to the config's ``trainer.default_root_dir``), and
``clocks report <out>`` reads them all; the ensemble's training loss goes to ``<out>/csv``. Arguments after
``--`` go to every member unchanged. The DiT and the GPT can be ensembled, on one device, without extra trainer
callbacks or gradient clipping (clipping would see all members' gradients at once); the ensemble writes no
checkpoints, so it cannot be resumed.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import CSVLogger

from lightning_clocks.ensemble import EnsembleClockCallback, EnsembleDataModule, EnsembleModule
from lightning_clocks.errors import ConfigError
from lightning_clocks.results import CLOCKS_FILE, CURVES_FILE
from lightning_clocks.sweep import parse_seeds, run_name
from lightning_clocks.trainer_cli import ClocksCLI, resolve_short_names, run_cli

#: Options the ensemble sets for every member itself.
SEED_OPTIONS = ("--seed_everything", "--data.seed")


class MemberCLI(ClocksCLI):
    """The ``clocks fit`` CLI up to the model, data and ClockCallback of one run (seeded first); no Trainer."""

    def instantiate_trainer(self, **kwargs: Any) -> None:
        """No Trainer: the members train together in the ensemble's."""


def build_members(config: str, seeds: Sequence[int], overrides: Sequence[str]) -> list[MemberCLI]:
    """One member per seed, as ``clocks fit --config CONFIG OVERRIDES --seed_everything=s --data.seed=s`` builds it."""
    if any(override.startswith(SEED_OPTIONS) for override in overrides):
        raise ConfigError(f"{list(SEED_OPTIONS)} are set per member from --seeds; do not give them after --")
    arguments = ["--config", config, *resolve_short_names(list(overrides)), "--trainer.logger=false"]
    with warnings.catch_warnings():
        # `args` stands for the command line here, so Lightning's warning about also having sys.argv is moot.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        members = [
            run_cli(
                [*arguments, f"--seed_everything={seed}", f"--data.seed={seed}"],
                MemberCLI,
                run=False,
                prog="clocks ensemble",
            )
            for seed in seeds
        ]
    trainer_config = members[0].config.trainer
    if trainer_config.callbacks:
        raise ConfigError(
            "trainer.callbacks is not supported by clocks ensemble (each member's clocks come from the clocks "
            "section); allowed: none"
        )
    if trainer_config.gradient_clip_val:
        raise ConfigError(
            f"trainer.gradient_clip_val={trainer_config.gradient_clip_val} is not supported by clocks ensemble "
            "(it would clip all members' gradients together); allowed: null or 0"
        )
    return members


def build_trainer(member: MemberCLI, callbacks: list[L.Callback], out: Path) -> L.Trainer:
    """The Trainer of ``member``'s config, with ``callbacks``, logging to ``<out>/csv``, without checkpoints."""
    options = {
        **member.config_init.trainer,
        "callbacks": callbacks,
        "logger": CSVLogger(out, name="csv"),
        "enable_checkpointing": False,
        "default_root_dir": str(out),
    }
    trainer = L.Trainer(**options)
    if trainer.world_size != 1:
        raise ConfigError(
            f"trainer.devices={member.config.trainer.devices} gives {trainer.world_size} processes, but an ensemble "
            "trains all its members in one process on one device; allowed: 1"
        )
    return trainer


def fit_ensemble(config: str, seeds: Sequence[int], overrides: Sequence[str], out: str | None = None) -> L.Trainer:
    """Build one member per seed, train them together, and return the Trainer (it holds the EnsembleModule).

    Member s writes its curves and clocks to ``<out>/seed-<s>``; ``out`` defaults to ``trainer.default_root_dir``.
    """
    members = build_members(config, seeds, overrides)
    run_dir = Path(out or members[0].config.trainer.default_root_dir)
    names = [run_name({}, seed, {}) for seed in seeds]
    held = [path for path in (run_dir, *(run_dir / name for name in names)) if (path / CURVES_FILE).exists()]
    if held:
        raise ConfigError(f"--out={run_dir} already holds runs in {[str(path) for path in held]}; choose another --out")
    module = EnsembleModule([member.model for member in members], names)
    callback = EnsembleClockCallback([member.config_init.clocks for member in members])
    trainer = build_trainer(members[0], [callback], run_dir)
    trainer.fit(module, datamodule=EnsembleDataModule([member.datamodule for member in members]))
    return trainer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clocks ensemble",
        description="Train one config with several seeds in one process; each seed writes its own curves and clocks.",
    )
    parser.add_argument("--config", required=True, help="config file of every member (as for clocks fit)")
    parser.add_argument(
        "--seeds", required=True, help="comma-separated seeds; each sets --seed_everything and --data.seed"
    )
    parser.add_argument(
        "--out", help="run folder; member s writes to <out>/seed-<s> (default: trainer.default_root_dir)"
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="-- OVERRIDE",
        help="overrides after `--` for every member, as for clocks fit (see clocks fit --help), "
        "e.g. -- --trainer.max_steps=2000",
    )
    return parser


def main(argv: list[str]) -> int:
    """``clocks ensemble``: train the members together and print where each wrote its clocks."""
    args = build_parser().parse_args(argv)
    trainer = fit_ensemble(args.config, parse_seeds(args.seeds), args.overrides, args.out)
    for name in trainer.lightning_module.names:
        member_dir = Path(trainer.default_root_dir) / name
        summary = json.loads((member_dir / CLOCKS_FILE).read_text())
        print(f"[ensemble] {member_dir}: tau_rule={summary['tau_rule']}, tau_mem={summary['tau_mem']}")
    return 0
