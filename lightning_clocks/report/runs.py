"""Run folders loaded for a report: saved curves, clocks re-measured from them, and what each run varied.

A report path is a run folder (it holds ``curves.csv`` or ``clocks.json``), a sweep folder
(``sweep.json`` lists its runs), or any folder whose subfolders are runs. Clocks are always
recomputed from ``curves.csv`` with :func:`lightning_clocks.clocks.measure_clocks`, using the
thresholds given to the report or, where none is given, the run's own.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning_clocks.clocks import (
    DEFAULT_MEM_THRESHOLD,
    DEFAULT_RULE_THRESHOLD,
    MEM_SERIES,
    RULE_SERIES,
    Clocks,
    measure_clocks,
)
from lightning_clocks.errors import ConfigError
from lightning_clocks.results import (
    CLOCKS_FILE,
    CURVES_FILE,
    SWEEP_FILE,
    is_run_folder,
    read_curves,
    read_json,
    run_status,
)


@dataclass(frozen=True)
class Thresholds:
    """Clock thresholds for a report; ``None`` keeps each run's own value (from its clocks.json)."""

    rule: float | None = None
    mem: float | None = None
    smoothing: float | None = None


@dataclass
class RunResult:
    """One run of a report: its saved curves and summary, and its clocks measured with the report's thresholds."""

    name: str
    path: Path
    status: str
    values: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    curves: dict[str, list[float]] | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    clocks: Clocks | None = None

    @property
    def n_train(self) -> int | None:
        return self.summary.get("n_train")

    @property
    def complexity(self) -> float | None:
        return self.summary.get("rule", {}).get("complexity")

    @property
    def family(self) -> str | None:
        """The model family (``dit``, ``gpt``), as the run's ``clocks.json`` records it."""
        return self.summary.get("model", {}).get("family")

    @property
    def last_step(self) -> int | None:
        return self.curves["step"][-1] if self.curves else None

    @property
    def capacity_keys(self) -> list[str]:
        """The hyperparameters that set this run's model capacity, as its ``clocks.json`` records them."""
        return list(self.summary.get("model", {}).get("capacity_keys", []))

    def capacity(self, key: str) -> float | None:
        """The model hyperparameter ``key``, if the model has it."""
        return self.summary.get("model", {}).get(key)

    @property
    def clock_series(self) -> tuple[str, str]:
        """The columns the run's clocks cross (``validity`` and ``mem_excess`` for generative models)."""
        return (self.summary.get("rule_series", RULE_SERIES), self.summary.get("mem_series", MEM_SERIES))

    def final(self, metric: str) -> float | None:
        """The metric at the last evaluation."""
        return self.curves[metric][-1] if self.curves and metric in self.curves else None


def find_runs(path: Path) -> list[RunResult]:
    """The runs under ``path`` (a run, a sweep, or a folder of runs), not yet loaded."""
    if is_run_folder(path):
        return [RunResult(path.name, path, run_status(path))]
    manifest = path / SWEEP_FILE
    if manifest.exists():
        runs = read_json(manifest)["runs"]
        folders = [run_folder_inside(path, str(run["name"]), manifest) for run in runs]
        return [
            RunResult(run["name"], folder, run_status(folder), run["values"], run["seed"])
            for run, folder in zip(runs, folders, strict=True)
        ]
    folders = sorted(
        run_folder_inside(path, child.name, path) for child in path.iterdir() if child.is_dir() and is_run_folder(child)
    )
    if not folders:
        raise ConfigError(f"report path {path} holds no run (no {CURVES_FILE}) and no sweep (no {SWEEP_FILE})")
    return [RunResult(folder.name, folder, run_status(folder)) for folder in folders]


def run_folder_inside(folder: Path, name: str, source: Path) -> Path:
    """``folder/name``, refusing (a ConfigError naming ``source``) a name that is not one plain folder name, or a
    run folder that is a link: a report reads only inside the folders it was given."""
    run_dir = folder / name
    if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        raise ConfigError(f"{source} names a run {name!r} that is not a folder inside {folder}; allowed: plain names")
    if run_dir.is_symlink():
        raise ConfigError(
            f"{source}: run {name!r} is a link to {run_dir.resolve()}, outside {folder}; allowed: run folders inside "
            "it (give the linked run's own folder to clocks report instead)"
        )
    return run_dir


def load_run(run: RunResult, thresholds: Thresholds) -> RunResult:
    """Read the run's curves and clocks.json, and measure its clocks with ``thresholds``."""
    if (run.path / CLOCKS_FILE).exists():
        run.summary = read_json(run.path / CLOCKS_FILE)
        if run.seed is None:
            run.seed = run.summary.get("seed")
    if (run.path / CURVES_FILE).exists():
        run.curves = read_curves(run.path / CURVES_FILE)
    if run.curves:
        rule_series, mem_series = run.clock_series
        missing = {"step", rule_series, mem_series} - set(run.curves)
        if missing:
            raise ConfigError(f"{run.path / CURVES_FILE} lacks the columns {sorted(missing)} that the clocks cross")
        run.clocks = measure_clocks(
            run.curves,
            rule_threshold=_pick(thresholds.rule, run.summary.get("rule_threshold"), DEFAULT_RULE_THRESHOLD),
            mem_threshold=_pick(thresholds.mem, run.summary.get("mem_threshold"), DEFAULT_MEM_THRESHOLD),
            smoothing=_pick(thresholds.smoothing, run.summary.get("smoothing"), 0.0),
            rule_series=rule_series,
            mem_series=mem_series,
        )
    return run


def _pick(given: float | None, saved: float | None, default: float) -> float:
    """The report's value if given, else the run's saved value, else the default."""
    if given is not None:
        return given
    return saved if saved is not None else default


def load_runs(paths: list[Path], thresholds: Thresholds) -> list[RunResult]:
    """Every run under every path, loaded and re-measured; a path that does not exist is a ConfigError.

    A run whose curves.csv or clocks.json is damaged is left out with a warning naming the file, so one broken
    run does not stop the report of a whole sweep; a report with no readable run is a ConfigError."""
    runs, damaged = [], []
    for path in paths:
        if not path.is_dir():
            raise ConfigError(f"report path {path} is not a folder")
        for run in find_runs(path):
            try:
                runs.append(load_run(run, thresholds))
            except ConfigError as error:
                damaged.append(error)
                print(f"clocks report: warning: skipping the run {run.path}: {error}", file=sys.stderr)
    if damaged and not runs:
        raise ConfigError(f"no readable run to report: {damaged[0]}")
    return runs


def varying_capacity_keys(runs: list[RunResult]) -> list[str]:
    """The capacity hyperparameters (each model's own, from clocks.json) that take at least two values across the
    measured runs."""
    measured = [run for run in runs if run.clocks is not None]
    keys = dict.fromkeys(key for run in measured for key in run.capacity_keys)
    return [key for key in keys if len({run.capacity(key) for run in measured} - {None}) >= 2]
