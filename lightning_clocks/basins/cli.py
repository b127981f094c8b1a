"""``clocks basins --run DIR``: basins of attraction measured on a finished run's saved checkpoints.

The model and data are rebuilt from the run's ``config.yaml`` as ``clocks fit`` built them (the training
and control sets are deterministic from the data seed); each checkpoint in ``checkpoints/*.ckpt`` gives
its weights (loaded weights-only) and its step, and one
:class:`~lightning_clocks.basins.probe.BasinProbe` is measured on every distinct step. The probe's
settings are the ``--basins.*`` options, which mirror the
:class:`~lightning_clocks.basins.callback.BasinCallback` arguments; those not given come from the run's
own BasinCallback when it had one. The rows go to ``<run>/basins.csv`` unless ``--output`` says
otherwise; an existing file is replaced only with ``--overwrite``, atomically. Writing into the run, the command
holds the run's lock (:mod:`lightning_clocks.run_lock`), so it never runs beside a fit of that run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lightning_clocks.cli import command_parser, parse_arguments
from lightning_clocks.errors import ConfigError
from lightning_clocks.results import BASINS_FILE, CHECKPOINTS_FOLDER, CONFIG_FILE, LAST_CHECKPOINT
from lightning_clocks.run_lock import run_lock

#: BasinCallback arguments that set its schedule during training; measuring saved checkpoints has no schedule.
SCHEDULE_ARGUMENTS = ("eval_steps", "num_evaluations", "first_step")


def build_parser() -> Any:
    """The ``clocks basins`` parser: the run and its checkpoints, and the probe settings under ``basins``."""
    from lightning_clocks.basins.callback import BasinCallback

    parser = command_parser(
        "clocks basins",
        "Measure basins of attraction (DiT) or bit-flip basins and log-likelihoods (GPT) on a run's saved checkpoints.",
    )
    parser.add_argument("--run", type=Path, required=True, help="run folder holding config.yaml and checkpoints/")
    parser.add_argument(
        "--checkpoints", type=str, default=f"{CHECKPOINTS_FOLDER}/*.ckpt", help="checkpoint glob inside the run folder"
    )
    parser.add_argument(
        "--output", type=Path | None, default=None, help="CSV file to write (default: <run>/basins.csv)"
    )
    parser.add_argument("--overwrite", type=bool, default=False, help="replace an existing output file")
    parser.add_argument("--device", type=str, default="cpu", help="torch device to measure on (cpu, cuda, ...)")
    parser.add_class_arguments(BasinCallback, "basins", skip=set(SCHEDULE_ARGUMENTS))
    return parser


def run_config(run_dir: Path) -> dict[str, Any]:
    """The run's resolved ``config.yaml``; ConfigError when it is missing or not a mapping."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"run={run_dir} is not a run folder: it has no {CONFIG_FILE}")
    config = yaml.safe_load(path.read_text())
    if not isinstance(config, dict):
        raise ConfigError(f"{path} is damaged: it is not a YAML mapping")
    return config


def run_basin_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The run's own BasinCallback arguments (without its schedule), or ``{}`` if it had none."""
    settings: dict[str, Any] = {}
    for callback in (config.get("trainer") or {}).get("callbacks") or []:
        if isinstance(callback, dict) and str(callback.get("class_path", "")).endswith(".BasinCallback"):
            settings.update(callback.get("init_args") or {})
    return {name: value for name, value in settings.items() if name not in SCHEDULE_ARGUMENTS}


def main(argv: Sequence[str]) -> int:
    """``clocks basins``: write the basins of every saved checkpoint of a run and print the radii."""
    parser = build_parser()
    run_dir = parse_arguments(parser, argv).run
    # The run's own settings become the defaults, so that what the command line gives still wins.
    parser.set_defaults({f"basins.{name}": value for name, value in run_basin_settings(run_config(run_dir)).items()})
    arguments = parse_arguments(parser, argv)
    output = arguments.output or run_dir / BASINS_FILE
    if output.exists() and not arguments.overwrite:
        raise ConfigError(f"output={output} already exists; pass --overwrite=true to replace it, or another --output")
    paths = sorted(run_dir.glob(arguments.checkpoints), key=lambda path: path.name == LAST_CHECKPOINT)
    if not paths:
        raise ConfigError(f"checkpoints={arguments.checkpoints!r} matches no file in {run_dir}")

    from lightning_clocks.basins.callback import BasinCallback
    from lightning_clocks.basins.table import write_basins
    from lightning_clocks.fit import build_run, load_weights

    callback = BasinCallback(**arguments.basins.as_dict())
    # Writing into the run: hold its lock, so that no fit (whose basin callback writes the same file) runs meanwhile.
    writes_into_run = run_dir.resolve() in output.resolve().parents
    with run_lock(run_dir) if writes_into_run else contextlib.nullcontext():
        parts = build_run(run_dir / CONFIG_FILE, prog="clocks basins")
        module = parts.model.to(arguments.device)
        rows: list[dict[str, object]] = []
        measured_steps: set[int] = set()
        for path in paths:
            step = load_weights(module, path)
            if step in measured_steps:
                continue
            measured_steps.add(step)
            step_rows = callback.measure(module, parts.data, step)
            rows += step_rows
            radii = {str(row["target_class"]): row["basin_radius"] for row in step_rows}
            print(
                f"step {step}: basin radius " + ", ".join(f"{name} {_format(radius)}" for name, radius in radii.items())
            )
        rows.sort(key=lambda row: int(row["step"]))
        write_basins(output, rows)
    print(f"wrote {len(rows)} rows for {len(measured_steps)} checkpoints to {output}")
    return 0


def _format(radius: object) -> str:
    return "none" if radius is None else f"{float(radius):.3g}"
