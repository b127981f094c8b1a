"""Clock callbacks: one curve row per scheduled evaluation, and the two clocks crossed on two named series.

:class:`CurveClockCallback` is what every clock callback shares (the schedule, the thresholds, the rows,
``curves.csv`` and ``clocks.json`` rewritten atomically in the run folder, the W&B summary);
:class:`ClockCallback` is the one for generative models (docs/method.md, "Metrics" and "Clocks"): at each
scheduled step it draws the evaluation's sampling noise from a fixed seed (the same noise at every
evaluation, so curves are comparable), splits it across ranks, generates, updates the metrics (reduced
across ranks), logs ``clocks/<metric>`` against ``clocks/step``, and crosses ``validity`` and
``mem_excess`` (the clocks so far go to the W&B run summary at every evaluation). The pair task's
:class:`~lightning_clocks.relational.callback.PairClockCallback` crosses its own columns.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger

from lightning_clocks.callbacks.ema import measured_module, run_ema_decay
from lightning_clocks.callbacks.interrupt import unless_stopping
from lightning_clocks.callbacks.scheduled import ScheduledCallback
from lightning_clocks.clocks import (
    DEFAULT_MEM_THRESHOLD,
    DEFAULT_RULE_THRESHOLD,
    MEM_SERIES,
    RULE_SERIES,
    Clocks,
    measure_clocks,
)
from lightning_clocks.data import RuleDataModule
from lightning_clocks.errors import ConfigError, check_threshold, require_non_negative, require_positive
from lightning_clocks.metrics import generation_metrics, summarize
from lightning_clocks.modules.base import GenerativeModule
from lightning_clocks.results import CLOCKS_FILE, CURVES_FILE, VALIDATE_FILE, write_curves, write_json


class CurveClockCallback(ScheduledCallback):
    """Records one curve row per evaluation and measures tau_rule and tau_mem on two named columns."""

    prefix = "clocks"
    #: The column whose first crossing of ``rule_threshold`` is tau_rule.
    rule_series: ClassVar[str]
    #: The column whose first crossing of ``mem_threshold`` is tau_mem.
    mem_series: ClassVar[str]

    def __init__(
        self,
        eval_steps: list[int] | None,
        num_evaluations: int,
        first_step: int,
        rule_threshold: float,
        mem_threshold: float,
        smoothing: float,
    ) -> None:
        super().__init__(eval_steps, num_evaluations, first_step)
        check_threshold("clocks.rule_threshold", rule_threshold)
        check_threshold("clocks.mem_threshold", mem_threshold)
        require_non_negative("clocks.smoothing", smoothing)
        self.rule_threshold = rule_threshold
        self.mem_threshold = mem_threshold
        self.smoothing = smoothing

    def check_data(self, data: Any) -> None:
        """Raise a ConfigError for a setting that cannot work with ``data`` (checked before the run starts)."""

    @abstractmethod
    def evaluate(self, module: Any, data: Any, world_size: int = 1, rank: int = 0) -> dict[str, float]:
        """One curve row (without ``step``) for ``module``'s current weights (rank ``rank``'s share of the work)."""

    @abstractmethod
    def describe_run(self, data: Any, module: Any) -> dict[str, Any]:
        """What ``clocks.json`` records of the run besides its clocks (task, model, sizes, seeds)."""

    def record(self, step: int, module: Any, data: Any, world_size: int = 1, rank: int = 0) -> dict[str, float]:
        """Evaluate ``module`` at ``step``, append the row to the curves and return it."""
        row = {"step": step, **self.timed(self.evaluate, module, data, world_size, rank)}
        self.rows.append(row)
        return row

    def clocks(self) -> Clocks:
        """The clocks measured from the rows so far (every column, so that counts give each clock its interval)."""
        names = dict.fromkeys(("step", self.rule_series, self.mem_series, *(name for row in self.rows for name in row)))
        columns = {name: [row.get(name, float("nan")) for row in self.rows] for name in names}
        return measure_clocks(
            columns, self.rule_threshold, self.mem_threshold, self.smoothing, self.rule_series, self.mem_series
        )

    def should_stop(self) -> bool:
        """Whether training may stop after this evaluation (never, unless a subclass says so)."""
        return False

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if not self.is_due(step):
            return
        module = measured_module(trainer, pl_module)
        row = self.record(step, module, trainer.datamodule, trainer.world_size, trainer.global_rank)
        self.log_metrics(trainer, row, step)
        if trainer.is_global_zero:
            clocks = self.clocks()
            run_dir = Path(trainer.default_root_dir)
            self.write_results(run_dir, trainer.datamodule, pl_module, step, run_ema_decay(trainer), clocks)
            for logger in trainer.loggers:
                if isinstance(logger, WandbLogger):
                    with unless_stopping("summary update"):
                        clocks_to_wandb_summary(logger, clocks)
        if self.should_stop():
            trainer.should_stop = True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or not self.rows:
            return
        clocks = self.clocks()
        run_dir = Path(trainer.default_root_dir)
        self.write_results(run_dir, trainer.datamodule, pl_module, trainer.global_step, run_ema_decay(trainer), clocks)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                summarize_to_wandb(logger, clocks, self.rows, (self.rule_series, self.mem_series))

    def write_results(
        self,
        run_dir: Path,
        data: Any,
        module: Any,
        steps_trained: int,
        ema_decay: float | None = None,
        clocks: Clocks | None = None,
    ) -> None:
        """Rewrite ``curves.csv`` and ``clocks.json`` of ``module``, trained on ``data``, in ``run_dir``, atomically;
        ``ema_decay`` says whether the curves were measured on EMA weights (docs/method.md, "EMA weights");
        ``clocks``, when the caller has measured them already from the rows, saves measuring them again."""
        write_curves(run_dir / CURVES_FILE, self.rows)
        payload = {
            **(clocks or self.clocks()).to_dict(),
            **self.describe_run(data, module),
            "ema_decay": ema_decay,
            "steps_trained": steps_trained,
            "evaluations": len(self.rows),
            "evaluation_seconds": round(self.evaluation_seconds, 3),
            "threads": torch.get_num_threads(),  # intra-op CPU threads: results depend on them in their last digits
        }
        write_json(run_dir / CLOCKS_FILE, payload)


def model_description(module: L.LightningModule) -> dict[str, Any]:
    """The model's family, class, capacity keys (what ``clocks report`` compares across runs) and hyperparameters
    (without the CLI's private ``_class_path``-like keys)."""
    public = {name: value for name, value in dict(module.hparams).items() if not name.startswith("_")}
    capacity_keys = list(getattr(module, "capacity_keys", ()))
    return {"family": module.family, "class": type(module).__name__, "capacity_keys": capacity_keys, **public}


class ClockCallback(CurveClockCallback):
    """Evaluates generated samples on a schedule and measures tau_rule (on validity) and tau_mem (on mem_excess)."""

    rule_series = RULE_SERIES
    mem_series = MEM_SERIES

    def __init__(
        self,
        eval_steps: list[int] | None = None,
        num_evaluations: int = 40,
        first_step: int = 10,
        num_samples: int = 2048,
        sample_batch_size: int = 1024,
        sampling_seed: int = 0,
        rule_threshold: float = DEFAULT_RULE_THRESHOLD,
        mem_threshold: float = DEFAULT_MEM_THRESHOLD,
        smoothing: float = 0.0,
        near_copy_distance: int = 0,
        stop_when_memorized: bool = False,
        stop_copy_rate: float = 0.9,
    ) -> None:
        """
        Args:
            eval_steps: explicit, increasing evaluation steps; default is a log-spaced schedule.
            num_evaluations: evaluations in the log-spaced schedule (from first_step to trainer.max_steps).
            first_step: first step of the log-spaced schedule.
            num_samples: M, samples generated per evaluation (over all ranks together).
            sample_batch_size: samples generated at once per rank.
            sampling_seed: seed of the sampling noise, the same at every evaluation.
            rule_threshold: theta_rule; tau_rule is the first step with validity >= theta_rule.
            mem_threshold: theta_mem; tau_mem is the first step with mem_excess >= theta_mem.
            smoothing: Gaussian smoothing width over the evaluation index before crossing (0: none).
            near_copy_distance: a sample within this Hamming distance of a training row is a near copy.
            stop_when_memorized: stop training once tau_mem has crossed and copy_rate >= stop_copy_rate.
            stop_copy_rate: copy rate at which stop_when_memorized stops.
        """
        super().__init__(eval_steps, num_evaluations, first_step, rule_threshold, mem_threshold, smoothing)
        require_positive("clocks.num_samples", num_samples)
        require_positive("clocks.sample_batch_size", sample_batch_size)
        check_threshold("clocks.stop_copy_rate", stop_copy_rate)
        self.num_samples = num_samples
        self.sample_batch_size = sample_batch_size
        self.sampling_seed = sampling_seed
        self.near_copy_distance = near_copy_distance
        self.stop_when_memorized = stop_when_memorized
        self.stop_copy_rate = stop_copy_rate
        self._metrics: torch.nn.Module | None = None
        self.checkpoint_step: int | None = None
        self.rule_description: dict[str, object] | None = None

    def check_data(self, data: RuleDataModule) -> None:
        """The near-copy distance is a Hamming distance between sequences of the rule's length L: 0..L."""
        length = data.rule.length
        if isinstance(self.near_copy_distance, bool) or not 0 <= self.near_copy_distance <= length:
            raise ConfigError(
                f"clocks.near_copy_distance={self.near_copy_distance!r} is invalid; allowed: an integer from 0 to "
                f"the sequence length {length}"
            )

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not isinstance(pl_module, GenerativeModule):
            raise ConfigError(f"ClockCallback needs a GenerativeModule, got {type(pl_module).__name__}")
        if not isinstance(trainer.datamodule, RuleDataModule):
            raise ConfigError("ClockCallback needs the RuleDataModule (trainer.datamodule)")
        self.prepare(trainer.max_steps, trainer.datamodule)

    def prepare(self, max_steps: int, data: RuleDataModule) -> None:
        """Fix the evaluation schedule of a run of ``max_steps`` and remember its rule (checked on resuming)."""
        self.schedule = self.resolve_schedule(max_steps)
        self.rule_description = data.rule.describe()

    def evaluate(
        self, module: GenerativeModule, data: RuleDataModule, world_size: int = 1, rank: int = 0
    ) -> dict[str, float]:
        """Generate rank ``rank``'s share of the M samples with ``module``; return the metrics over all ranks."""
        if self._metrics is None:
            metrics = generation_metrics(data.rule, data.train_set, data.control_set, self.near_copy_distance)
            self._metrics = metrics.to(module.device)
        generator = torch.Generator().manual_seed(self.sampling_seed)
        noise = module.sampling_noise(self.num_samples, generator)
        rank_noise = torch.tensor_split(noise, world_size)[rank]
        samples = module.decode_noise(rank_noise, self.sample_batch_size)
        self._metrics.reset()
        self._metrics.update(samples)
        return summarize(self._metrics.compute())

    def should_stop(self) -> bool:
        """With stop_when_memorized: whether tau_mem has crossed and the last copy rate reached stop_copy_rate."""
        if not self.stop_when_memorized or not self.rows:
            return False
        return self.clocks().tau_mem is not None and self.rows[-1]["copy_rate"] >= self.stop_copy_rate

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Under ``clocks validate``: evaluate the loaded weights once, print the metrics, write ``validate.json``."""
        if trainer.sanity_checking or trainer.state.fn != "validate":
            return
        summary = self.evaluate(pl_module, trainer.datamodule, trainer.world_size, trainer.global_rank)
        pl_module.log_dict({f"clocks/{name}": value for name, value in summary.items()}, sync_dist=False)
        if trainer.is_global_zero:
            step = trainer.global_step if self.checkpoint_step is None else self.checkpoint_step
            payload = {"step": step, "checkpoint": trainer.ckpt_path, "metrics": summary}
            write_json(Path(trainer.default_root_dir) / VALIDATE_FILE, payload)

    def describe_run(self, data: RuleDataModule, module: GenerativeModule) -> dict[str, Any]:
        return {
            "rule": data.rule.describe(),
            "model": model_description(module),
            "n_train": data.n_train,
            "n_control": data.n_control,
            "seed": data.seed,
            "sampling_seed": self.sampling_seed,
            "num_samples": self.num_samples,
            "final_metrics": self.rows[-1],
        }

    # ----------------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rule": self.rule_description}

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        """Remember the step of a loaded checkpoint (``clocks validate`` does not restore the loop's step)."""
        self.checkpoint_step = int(checkpoint["global_step"])


#: Rates drawn together in one W&B line plot at the end of training, besides the two clock series.
WANDB_LINE_PLOT_RATES = ("copy_rate", "novel_valid", "control_copy_rate")


def clocks_to_wandb_summary(logger: WandbLogger, clocks: Clocks) -> None:
    """The clocks so far in the W&B run summary (``clocks/tau_rule``, ...), updated at every evaluation, so a run
    stopped early still shows them."""
    entries: dict[str, Any] = {}
    for name, value in clocks.to_dict().items():
        if name.endswith("_interval"):  # [low, high] as two numbers, so W&B can chart and sort them
            low, high = value if value is not None else (None, None)
            entries[f"clocks/{name}_low"], entries[f"clocks/{name}_high"] = low, high
        else:
            entries[f"clocks/{name}"] = value
    # One update, one record to W&B's service: setting the keys one by one sends one record per key.
    logger.experiment.summary.update(entries)


def summarize_to_wandb(
    logger: WandbLogger, clocks: Clocks, rows: list[dict[str, float]], clock_series: tuple[str, str]
) -> None:
    """Clocks in the W&B run summary, the curves as a table, and the clocks' two series in one line plot."""
    import wandb

    run = logger.experiment
    clocks_to_wandb_summary(logger, clocks)
    columns = list(rows[0])
    logger.log_table(key="clocks/curves", columns=columns, data=[[row.get(name) for name in columns] for row in rows])
    series = [name for name in (*clock_series, *WANDB_LINE_PLOT_RATES) if name in rows[0]]
    line_plot = wandb.plot.line_series(
        xs=[row["step"] for row in rows],
        ys=[[row[name] for row in rows] for name in series],
        keys=series,
        title="The clocks' series against training step",
        xname="step",
    )
    run.log({"clocks_plots/clock_series": line_plot})
