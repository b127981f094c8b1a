"""Run folders loaded for a report: saved curves, clocks re-measured from them, and what each run varied.

A report path is a run folder (it holds ``curves.csv`` or ``clocks.json``), a sweep folder
(``sweep.json`` lists its runs), or any folder whose subfolders are runs. Clocks are always
recomputed from ``curves.csv`` with :func:`lightning_clocks.clocks.measure_clocks`, using the
thresholds given to the report or, where none is given, the run's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning_clocks.clocks import Clocks, measure_clocks
from lightning_clocks.errors import ConfigError
from lightning_clocks.results import CLOCKS_FILE, CURVES_FILE, read_curves
from lightning_clocks.sweep import EXIT_FILE, FINISHED, LOG_FILE, PENDING, SWEEP_FILE, run_status

#: Model hyperparameters that set capacity (GPT: n_layer, n_embd, n_head; DiT: depth, width, heads).
CAPACITY_KEYS = ("n_layer", "n_embd", "n_head", "depth", "width", "heads")


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
    def last_step(self) -> int | None:
        return self.curves["step"][-1] if self.curves else None

    def capacity(self, key: str) -> float | None:
        """The model hyperparameter ``key`` (one of CAPACITY_KEYS), if the model has it."""
        return self.summary.get("model", {}).get(key)

    def final(self, metric: str) -> float | None:
        """The metric at the last evaluation."""
        return self.curves[metric][-1] if self.curves and metric in self.curves else None


def _folder_status(run_dir: Path) -> str:
    """A sweep run's status from its exit code; a run started by hand is finished once it has clocks.json."""
    if (run_dir / EXIT_FILE).exists() or (run_dir / LOG_FILE).exists():
        return run_status(run_dir)
    return FINISHED if (run_dir / CLOCKS_FILE).exists() else PENDING


def _is_run_folder(path: Path) -> bool:
    return (path / CURVES_FILE).exists() or (path / CLOCKS_FILE).exists()


def find_runs(path: Path) -> list[RunResult]:
    """The runs under ``path`` (a run, a sweep, or a folder of runs), not yet loaded."""
    if _is_run_folder(path):
        return [RunResult(path.name, path, _folder_status(path))]
    manifest = path / SWEEP_FILE
    if manifest.exists():
        runs = json.loads(manifest.read_text())["runs"]
        return [
            RunResult(run["name"], path / run["name"], _folder_status(path / run["name"]), run["values"], run["seed"])
            for run in runs
        ]
    folders = sorted(child for child in path.iterdir() if child.is_dir() and _is_run_folder(child))
    if not folders:
        raise ConfigError(f"report path {path} holds no run (no {CURVES_FILE}) and no sweep (no {SWEEP_FILE})")
    return [RunResult(folder.name, folder, _folder_status(folder)) for folder in folders]


def load_run(run: RunResult, thresholds: Thresholds) -> RunResult:
    """Read the run's curves and clocks.json, and measure its clocks with ``thresholds``."""
    if (run.path / CLOCKS_FILE).exists():
        run.summary = json.loads((run.path / CLOCKS_FILE).read_text())
        if run.seed is None:
            run.seed = run.summary.get("seed")
    if (run.path / CURVES_FILE).exists():
        run.curves = read_curves(run.path / CURVES_FILE)
    if run.curves:
        missing = {"step", "validity", "mem_excess"} - set(run.curves)
        if missing:
            raise ConfigError(f"{run.path / CURVES_FILE} lacks the columns {sorted(missing)} that the clocks need")
        run.clocks = measure_clocks(
            run.curves,
            rule_threshold=_pick(thresholds.rule, run.summary.get("rule_threshold"), 0.5),
            mem_threshold=_pick(thresholds.mem, run.summary.get("mem_threshold"), 0.1),
            smoothing=_pick(thresholds.smoothing, run.summary.get("smoothing"), 0.0),
        )
    return run


def _pick(given: float | None, saved: float | None, default: float) -> float:
    """The report's value if given, else the run's saved value, else the default."""
    if given is not None:
        return given
    return saved if saved is not None else default


def load_runs(paths: list[Path], thresholds: Thresholds) -> list[RunResult]:
    """Every run under every path, loaded and re-measured; a path that does not exist is a ConfigError."""
    runs = []
    for path in paths:
        if not path.is_dir():
            raise ConfigError(f"report path {path} is not a folder")
        runs.extend(load_run(run, thresholds) for run in find_runs(path))
    return runs


def varying_capacity_keys(runs: list[RunResult]) -> list[str]:
    """The capacity hyperparameters that take at least two values across the measured runs."""
    measured = [run for run in runs if run.clocks is not None]
    return [key for key in CAPACITY_KEYS if len({run.capacity(key) for run in measured} - {None}) >= 2]
