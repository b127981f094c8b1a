"""``clocks ensemble``: train one config with several seeds in one process, each seed with its own clocks.

    clocks ensemble --base_config configs/quickstart.yaml --seeds=[0,1,2,3] [--out DIR] [-- --trainer.max_steps=2000]

Member s is built exactly as ``clocks fit --config FILE --seed_everything=s --data.seed=s`` builds its run
(:func:`lightning_clocks.fit.build_run`: same initial weights, training set, control set and batch stream);
then all members train together (:mod:`lightning_clocks.ensemble.module`) with the config's trainer
settings. Member s writes ``curves.csv`` and ``clocks.json`` to ``<out>/seed-<s>`` (``out`` defaults to the
config's ``trainer.default_root_dir``), and ``clocks report <out>`` reads them all; the ensemble's training
loss goes to ``<out>/csv``. Arguments after ``--`` go to every member unchanged (``fit_args`` in a config
file). The DiT and the GPT can be ensembled, on one device, without extra trainer callbacks or gradient
clipping (clipping would see all members' gradients at once); the ensemble writes no checkpoints, so it
cannot be resumed. While it trains, it holds the lock of its folder and of every member's folder
(:mod:`lightning_clocks.run_lock`), as ``clocks fit`` holds its run's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import CSVLogger

from lightning_clocks.callbacks.progress import StepProgressBar
from lightning_clocks.cli import command_parser, parse_arguments, split_passthrough
from lightning_clocks.ensemble.module import EnsembleClockCallback, EnsembleDataModule, EnsembleModule
from lightning_clocks.errors import ConfigError, check_folder_name
from lightning_clocks.feedback import closing_line, quiet_screen
from lightning_clocks.fit import RunParts, build_run
from lightning_clocks.results import CURVES_FILE
from lightning_clocks.run_lock import run_lock

#: Options the ensemble sets for every member itself.
SEED_OPTIONS = ("--seed_everything", "--data.seed")


def member_name(seed: int) -> str:
    """The folder of the member with ``seed`` inside the ensemble's folder."""
    return f"seed-{seed}"


def build_members(config: str | Path, seeds: Sequence[int], overrides: Sequence[str]) -> list[RunParts]:
    """One member per seed, as ``clocks fit --config CONFIG OVERRIDES --seed_everything=s --data.seed=s`` builds it."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds={list(seeds)} is invalid; allowed: a non-empty list of distinct integers")
    if any(override.startswith(SEED_OPTIONS) for override in overrides):
        raise ConfigError(f"{list(SEED_OPTIONS)} are set per member from --seeds; do not give them after --")
    members = [
        build_run(config, [*overrides, f"--seed_everything={seed}", f"--data.seed={seed}"], prog="clocks ensemble")
        for seed in seeds
    ]
    trainer_config = members[0].config.trainer
    if trainer_config.callbacks:
        raise ConfigError(
            "trainer.callbacks is not supported by clocks ensemble (each member's clocks come from the clocks "
            "section); allowed: none"
        )
    if members[0].config.ema.decay is not None:
        raise ConfigError(
            f"ema.decay={members[0].config.ema.decay} is not supported by clocks ensemble (its members share one "
            "vectorized module); allowed: null, or train the seeds with clocks sweep"
        )
    if trainer_config.gradient_clip_val:
        raise ConfigError(
            f"trainer.gradient_clip_val={trainer_config.gradient_clip_val} is not supported by clocks ensemble "
            "(it would clip all members' gradients together); allowed: null or 0"
        )
    return members


def build_trainer(member: RunParts, callbacks: list[L.Callback], out: Path) -> L.Trainer:
    """The Trainer of ``member``'s config, with ``callbacks``, logging to ``<out>/csv``, without checkpoints."""
    if member.trainer_options.get("enable_progress_bar") is not False:
        callbacks = [*callbacks, StepProgressBar()]  # clocks fit's bar over steps, not Lightning's bar over epochs
    options = {
        **member.trainer_options,
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


def fit_ensemble(
    base_config: str | Path, seeds: Sequence[int], overrides: Sequence[str] = (), out: str | Path | None = None
) -> L.Trainer:
    """Build one member per seed, train them together, and return the Trainer (it holds the EnsembleModule).

    Member s writes its curves and clocks to ``<out>/seed-<s>``; ``out`` defaults to ``trainer.default_root_dir``.
    """
    members = build_members(base_config, seeds, overrides)
    run_dir = Path(out or members[0].config.trainer.default_root_dir)
    check_folder_name("out", run_dir)
    names = [member_name(seed) for seed in seeds]
    held = [path for path in (run_dir, *(run_dir / name for name in names)) if (path / CURVES_FILE).exists()]
    if held:
        raise ConfigError(f"out={run_dir} already holds runs in {[str(path) for path in held]}; choose another --out")
    module = EnsembleModule([member.model for member in members], names)
    callback = EnsembleClockCallback([member.clock for member in members])
    # vmap falls back to a loop for a few operations and says so on every run; the user cannot change that.
    quiet = quiet_screen("There is a performance drop because we have not yet implemented the batching rule")
    with quiet, contextlib.ExitStack() as locks:
        trainer = build_trainer(members[0], [callback], run_dir)
        # The ensemble's folder and every member's are run folders: no fit or other ensemble writes there meanwhile.
        for folder in (run_dir, *(run_dir / name for name in names)):
            locks.enter_context(run_lock(folder))
        trainer.fit(module, datamodule=EnsembleDataModule([member.data for member in members]))
    return trainer


def ensemble(base_config: Path, seeds: list[int], out: Path | None = None, fit_args: list[str] | None = None) -> None:
    """Train one config with several seeds in one process; each seed writes its own curves and clocks.

    Args:
        base_config: the config file of every member, as for clocks fit.
        seeds: the members' seeds, e.g. [0,1,2,3]; each sets seed_everything and data.seed.
        out: folder of the ensemble; member s writes to <out>/seed-<s> (default: trainer.default_root_dir).
        fit_args: clocks fit options for every member (on the command line: the arguments after --).
    """
    if not Path(base_config).is_file():
        raise ConfigError(f"base_config={base_config} is not a file")
    trainer = fit_ensemble(base_config, seeds, fit_args or [], out)
    for name in trainer.lightning_module.names:
        line = closing_line(Path(trainer.default_root_dir) / name, prefix="[ensemble]")
        if line is not None:
            print(line, flush=True)


def main(argv: Sequence[str]) -> int:
    """``clocks ensemble``: parse the options (and the fit arguments after ``--``) and train the members."""
    own, passthrough = split_passthrough(argv)
    parser = command_parser("clocks ensemble", (ensemble.__doc__ or "").split("\n\n")[0])
    parser.add_function_arguments(ensemble)
    arguments = parse_arguments(parser, own)
    ensemble(arguments.base_config, arguments.seeds, arguments.out, [*(arguments.fit_args or []), *passthrough])
    return 0
