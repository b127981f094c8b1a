"""``clocks basins --run DIR``: basins of attraction measured on a finished run's saved checkpoints (SPEC §3).

The data are rebuilt from the run's ``config.yaml`` (the training and control sets are
deterministic from the data seed), each checkpoint in ``checkpoints/*.ckpt`` is loaded with the
module class recorded in its hyperparameters (``_class_path``, else the config's
``model.class_path``), and one :class:`~lightning_clocks.basins.BasinProbe` is measured on every
distinct step. Settings not given on the command line come from the run's ``BasinCallback`` in
``trainer.callbacks`` when it has one, else from the callback's defaults. The rows (schema in
``lightning_clocks.basins``) go to ``<run>/basins.csv`` unless ``--output`` says otherwise; an
existing file is replaced only with ``--overwrite``. Lightning is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

import yaml

from lightning_clocks.basins_csv import BASINS_FILE
from lightning_clocks.errors import ConfigError

#: Command-line options that set the BasinCallback argument of the same name.
SETTINGS = (
    "sigmas",
    "flips",
    "num_train_targets",
    "num_control_targets",
    "num_invalid_targets",
    "sampler_steps",
    "return_threshold",
    "seed",
    "batch_size",
    "flip_resampling",
)
#: The class paths a config may use for the BasinCallback (the package exports it; the module defines it).
BASIN_CALLBACK_PATHS = ("lightning_clocks.callbacks.BasinCallback", "lightning_clocks.callbacks.basins.BasinCallback")


def build_parser() -> argparse.ArgumentParser:
    """The ``clocks basins`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="clocks basins",
        description="Measure basins of attraction (DiT) or bit-flip basins and log-likelihoods (GPT) "
        "on a run's saved checkpoints.",
    )
    parser.add_argument("--run", type=Path, required=True, help="run folder holding config.yaml and checkpoints/")
    parser.add_argument("--checkpoints", default="checkpoints/*.ckpt", help="checkpoint glob inside the run folder")
    parser.add_argument("--output", type=Path, help="CSV file to write (default: <run>/basins.csv)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--device", default="cpu", help="torch device to measure on (cpu, cuda, ...)")
    parser.add_argument("--sigmas", type=float, nargs="+", help="noise levels of the DiT basins")
    parser.add_argument("--flips", type=int, nargs="+", help="numbers of changed cells of the GPT basins")
    parser.add_argument("--num-train-targets", type=int, help="training samples measured")
    parser.add_argument("--num-control-targets", type=int, help="held-out valid samples measured")
    parser.add_argument("--num-invalid-targets", type=int, help="random invalid sequences measured")
    parser.add_argument("--sampler-steps", type=int, help="Heun steps from each sigma to 0 (default: the model's)")
    parser.add_argument("--return-threshold", type=float, help="return rate that counts as a basin (default 0.5)")
    parser.add_argument("--seed", type=int, help="seed of targets, noise and flips")
    parser.add_argument("--batch-size", type=int, help="targets integrated at once")
    parser.add_argument(
        "--flip-resampling",
        choices=["prefix", "exact"],
        help="GPT: resample flipped cells given the prefix, or exactly",
    )
    return parser


def run_config(run_dir: Path) -> dict[str, Any]:
    """The run's resolved ``config.yaml``; ConfigError when it is missing."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"--run={run_dir} is not a run folder: it has no config.yaml")
    return yaml.safe_load(path.read_text())


def callback_settings(config: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """BasinCallback arguments: the run's own BasinCallback settings, overridden by the command line."""
    settings: dict[str, Any] = {}
    for callback in config.get("trainer", {}).get("callbacks") or []:
        if isinstance(callback, dict) and callback.get("class_path") in BASIN_CALLBACK_PATHS:
            settings.update(callback.get("init_args") or {})
    for name in SETTINGS:
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    return settings


def build_data(config: dict[str, Any]) -> Any:
    """The run's RuleDataModule, rebuilt from its config and set up (its sets are deterministic from the seed)."""
    from jsonargparse import ArgumentParser

    from lightning_clocks.data import RuleDataModule

    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(RuleDataModule, "data")
    data = parser.instantiate_classes(parser.parse_object({"data": config["data"]})).data
    data.setup("fit")
    return data


def load_module(checkpoint_path: Path, config: dict[str, Any], device: str) -> tuple[Any, int]:
    """The module saved in ``checkpoint_path`` and its optimizer step."""
    import torch

    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    class_path = checkpoint.get("hyper_parameters", {}).get("_class_path") or config["model"]["class_path"]
    module_name, class_name = class_path.rsplit(".", 1)
    module_class = getattr(importlib.import_module(module_name), class_name)
    module = module_class.load_from_checkpoint(checkpoint_path, map_location=device)
    return module, int(checkpoint["global_step"])


def main(argv: list[str]) -> int:
    """``clocks basins``: write the basins of every saved checkpoint of a run and print the radii."""
    args = build_parser().parse_args(argv)
    output = args.output or args.run / BASINS_FILE
    if output.exists() and not args.overwrite:
        raise ConfigError(f"--output={output} already exists; pass --overwrite to replace it, or another --output")
    config = run_config(args.run)
    paths = sorted(args.run.glob(args.checkpoints))
    if not paths:
        raise ConfigError(f"--checkpoints={args.checkpoints!r} matches no file in {args.run}")

    from lightning_clocks.callbacks.basins import BasinCallback, measure_module
    from lightning_clocks.results import write_curves

    callback = BasinCallback(**callback_settings(config, args))
    data = build_data(config)
    probe = callback.build_probe(data)
    rows: list[dict[str, object]] = []
    measured_steps: set[int] = set()
    for path in sorted(paths, key=lambda path: path.name == "last.ckpt"):
        module, step = load_module(path, config, args.device)
        if step in measured_steps:
            continue
        measured_steps.add(step)
        step_rows = measure_module(probe, module, step, callback.sampler_steps)
        rows += step_rows
        radii = {str(row["target_class"]): row["basin_radius"] for row in step_rows}
        print(f"step {step}: basin radius " + ", ".join(f"{name} {_format(radius)}" for name, radius in radii.items()))
    rows.sort(key=lambda row: int(row["step"]))
    write_curves(output, rows)
    print(f"wrote {len(rows)} rows for {len(measured_steps)} checkpoints to {output}")
    return 0


def _format(radius: object) -> str:
    return "none" if radius is None else f"{float(radius):.3g}"
