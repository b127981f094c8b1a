"""A sweep's grid: config keys and their values, times seeds; one named run per combination.

The grid maps ``clocks fit`` config keys to lists of values (``{data.n_train: [128, 256]}``); every
combination, times every seed, is one run, named after the values that vary (``n_train-128_seed-0``),
in its own folder of the sweep.
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lightning_clocks.errors import ConfigError

_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9.+-]+")
#: Keys the grid may not hold: the seeds are swept with ``seeds``, which sets both.
SEED_KEYS = ("seed_everything", "data.seed")


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's mapping, or an empty one when the file is missing, unreadable or holds no mapping."""
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return content if isinstance(content, dict) else {}


def config_value(config: Mapping[str, Any], key: str) -> Any:
    """The value of a dotted key (``trainer.max_steps``) in a nested config; None when it is not there."""
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def asked_setting(base_config: Path, arguments: Sequence[str], key: str) -> Any:
    """The value ``clocks fit`` arguments give a dotted config key: the last ``--key=value`` or ``--key value``
    (read as YAML, as the command line reads it), else the base config's; None when neither sets it."""
    value: Any = config_value(read_yaml(base_config), key)
    for index, argument in enumerate(arguments):
        if argument.startswith(f"--{key}="):
            value = yaml.safe_load(argument.split("=", 1)[1])
        elif argument == f"--{key}" and index + 1 < len(arguments):
            value = yaml.safe_load(arguments[index + 1])
    return value


@dataclass(frozen=True)
class SweepRun:
    """One point of the grid with one seed: its folder name, swept values (as command-line text) and seed."""

    name: str
    values: dict[str, str]
    seed: int | None

    def overrides(self) -> list[str]:
        """The command-line overrides that make this run: swept values, then the seed (model and data)."""
        arguments = [f"--{key}={value}" for key, value in self.values.items()]
        if self.seed is not None:
            arguments += [f"--seed_everything={self.seed}", f"--data.seed={self.seed}"]
        return arguments


def value_text(value: Any) -> str:
    """A grid value as ``clocks fit`` reads it on the command line (strings as they are, the rest as JSON/YAML)."""
    return value if isinstance(value, str) else json.dumps(value)


def check_grid(grid: Mapping[str, Sequence[Any]]) -> dict[str, list[str]]:
    """The grid with its values as command-line text; a ConfigError for a grid that cannot be swept."""
    checked: dict[str, list[str]] = {}
    for key, values in grid.items():
        key = str(key).removeprefix("--")
        if key in SEED_KEYS:
            raise ConfigError(f"grid key {key!r} is not allowed: sweep seeds with --seeds, which sets both seeds")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ConfigError(f"grid {key}={values!r} is invalid: give a non-empty list of values, e.g. [128,256]")
        texts = [value_text(value) for value in values]
        if len(set(texts)) != len(texts):
            raise ConfigError(f"grid {key}={list(values)} repeats a value; each value must appear once")
        checked[key] = texts
    return checked


def check_seeds(seeds: Sequence[int] | None) -> list[int | None]:
    """The seeds to sweep; ``None`` means one run per grid point with the base config's own seeds."""
    if seeds is None:
        return [None]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds={list(seeds)} is invalid: give distinct integers, e.g. [0,1,2]")
    return list(seeds)


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """The shortest dotted suffix of each key that no other key shares (``data.rule.group_size`` -> ``group_size``)."""
    names: dict[str, str] = {}
    for key in keys:
        parts = key.split(".")
        for length in range(1, len(parts) + 1):
            suffix = ".".join(parts[-length:])
            if not any(other != key and (other == suffix or other.endswith("." + suffix)) for other in keys):
                break
        names[key] = suffix
    return names


def run_name(values: Mapping[str, str], seed: int | None, names: Mapping[str, str]) -> str:
    """A folder and W&B run name such as ``n_train-128_group_size-3_seed-0`` (``base`` for an empty grid)."""
    parts = [f"{names[key]}-{_UNSAFE_NAME_CHARACTERS.sub('~', value)}" for key, value in values.items()]
    if seed is not None:
        parts.append(f"seed-{seed}")
    return "_".join(parts) or "base"


#: The most runs a sweep may have unless ``--max_runs`` raises it: a bigger grid is almost always a typo.
MAX_RUNS = 1000


def expand_grid(
    grid: Mapping[str, Sequence[str]], seeds: Sequence[int | None], max_runs: int = MAX_RUNS
) -> list[SweepRun]:
    """Every combination of the grid's values, times every seed (the seed varies fastest); a ConfigError, before
    anything is built, for more than ``max_runs`` runs or two runs with one folder name."""
    size = math.prod(len(values) for values in grid.values()) * len(seeds)
    if size > max_runs:
        raise ConfigError(
            f"grid gives {size} runs ({' x '.join(str(len(v)) for v in grid.values())} values x {len(seeds)} seeds); "
            f"allowed: at most max_runs={max_runs} (raise it with --max_runs)"
        )
    names = short_keys(list(grid))
    runs = []
    for combination in itertools.product(*grid.values()):
        values = dict(zip(grid, combination, strict=True))
        runs.extend(SweepRun(run_name(values, seed, names), values, seed) for seed in seeds)
    duplicates = sorted(name for name, count in collections.Counter(run.name for run in runs).items() if count > 1)
    if duplicates:
        raise ConfigError(f"grid values give runs the same folder name {duplicates}; make the values distinct")
    return runs
