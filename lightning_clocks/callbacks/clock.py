"""ClockCallback: sample on a schedule, measure every metric, and keep the two clocks (SPEC §3).

At each scheduled optimizer step it draws the evaluation's sampling noise from a fixed seed
(the same noise at every evaluation, so curves are comparable), splits it across ranks,
generates, updates the metrics (reduced across ranks), logs ``clocks/<metric>`` to every
logger against ``clocks/step``, and rewrites ``curves.csv`` and ``clocks.json`` atomically in
the run folder (``trainer.default_root_dir``). Its rows are part of checkpoints, so a
resumed run continues its curves.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger

from lightning_clocks.clocks import Clocks, check_threshold, log_spaced_steps, measure_clocks
from lightning_clocks.data import RuleDataModule
from lightning_clocks.errors import ConfigError
from lightning_clocks.metrics import generation_metrics, summarize
from lightning_clocks.modules.base import GenerativeModule
from lightning_clocks.results import CLOCKS_FILE, CURVES_FILE, VALIDATE_FILE, write_curves, write_json
from lightning_clocks.rules.base import require_positive


class ClockCallback(L.Callback):
    """Evaluates generated samples on a schedule and measures tau_rule and tau_mem."""

    def __init__(
        self,
        eval_steps: list[int] | None = None,
        num_evaluations: int = 40,
        first_step: int = 10,
        num_samples: int = 2048,
        sample_batch_size: int = 1024,
        sampling_seed: int = 0,
        rule_threshold: float = 0.5,
        mem_threshold: float = 0.1,
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
        super().__init__()
        for option, value in (
            ("clocks.num_evaluations", num_evaluations),
            ("clocks.first_step", first_step),
            ("clocks.num_samples", num_samples),
            ("clocks.sample_batch_size", sample_batch_size),
        ):
            require_positive(option, value)
        check_threshold("clocks.rule_threshold", rule_threshold)
        check_threshold("clocks.mem_threshold", mem_threshold)
        check_threshold("clocks.stop_copy_rate", stop_copy_rate)
        if smoothing < 0:
            raise ConfigError(f"clocks.smoothing={smoothing} is invalid: it must be >= 0")
        if eval_steps is not None and (
            not eval_steps or eval_steps[0] < 1 or any(b <= a for a, b in itertools.pairwise(eval_steps))
        ):
            raise ConfigError(f"clocks.eval_steps={eval_steps} is invalid: it must be strictly increasing steps >= 1")
        self.eval_steps = eval_steps
        self.num_evaluations = num_evaluations
        self.first_step = first_step
        self.num_samples = num_samples
        self.sample_batch_size = sample_batch_size
        self.sampling_seed = sampling_seed
        self.rule_threshold = rule_threshold
        self.mem_threshold = mem_threshold
        self.smoothing = smoothing
        self.near_copy_distance = near_copy_distance
        self.stop_when_memorized = stop_when_memorized
        self.stop_copy_rate = stop_copy_rate
        self.rows: list[dict[str, float]] = []
        self.schedule: list[int] = []
        self.evaluation_seconds = 0.0
        self._metrics: torch.nn.Module | None = None
        self.checkpoint_step: int | None = None
        self.rule_description: dict[str, object] | None = None

    # ----------------------------------------------------------------- schedule and setup
    def resolve_schedule(self, max_steps: int) -> list[int]:
        """The evaluation steps for a run of ``max_steps``; raises ConfigError on an impossible schedule."""
        if self.eval_steps is not None:
            if max_steps > 0 and self.eval_steps[-1] > max_steps:
                raise ConfigError(
                    f"clocks.eval_steps ends at {self.eval_steps[-1]}, beyond trainer.max_steps={max_steps}; "
                    f"allowed: steps <= {max_steps}"
                )
            return list(self.eval_steps)
        if max_steps < 1:
            raise ConfigError(
                f"trainer.max_steps={max_steps}: a log-spaced evaluation schedule needs trainer.max_steps >= 1 "
                "(or give clocks.eval_steps explicitly)"
            )
        if self.first_step > max_steps:
            raise ConfigError(f"clocks.first_step={self.first_step} is beyond trainer.max_steps={max_steps}")
        return log_spaced_steps(self.first_step, max_steps, self.num_evaluations)

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

    # ----------------------------------------------------------------- evaluation
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

    def is_due(self, step: int) -> bool:
        """Whether ``step`` is a scheduled evaluation that has no row yet."""
        last_step = self.rows[-1]["step"] if self.rows else 0
        return step > last_step and step in self.schedule

    def record(
        self, step: int, module: GenerativeModule, data: RuleDataModule, world_size: int = 1, rank: int = 0
    ) -> dict[str, float]:
        """Evaluate ``module`` at ``step``, append the row to the curves and return it."""
        started = time.perf_counter()
        row = {"step": step, **self.evaluate(module, data, world_size, rank)}
        self.evaluation_seconds += time.perf_counter() - started
        self.rows.append(row)
        return row

    def should_stop(self) -> bool:
        """With stop_when_memorized: whether tau_mem has crossed and the last copy rate reached stop_copy_rate."""
        if not self.stop_when_memorized or not self.rows:
            return False
        return self.clocks().tau_mem is not None and self.rows[-1]["copy_rate"] >= self.stop_copy_rate

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if not self.is_due(step):
            return
        row = self.record(step, pl_module, trainer.datamodule, trainer.world_size, trainer.global_rank)
        self._log(trainer, row)
        if trainer.is_global_zero:
            self.write_results(Path(trainer.default_root_dir), trainer.datamodule, pl_module, step)
        if self.should_stop():
            trainer.should_stop = True

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

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or not self.rows:
            return
        self.write_results(Path(trainer.default_root_dir), trainer.datamodule, pl_module, trainer.global_step)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                _summarize_to_wandb(logger, self.clocks(), self.rows)

    # ----------------------------------------------------------------- results
    def clocks(self) -> Clocks:
        """The clocks measured from the rows so far."""
        columns = {name: [row[name] for row in self.rows] for name in ("step", "validity", "mem_excess")}
        return measure_clocks(columns, self.rule_threshold, self.mem_threshold, self.smoothing)

    def _log(self, trainer: L.Trainer, row: dict[str, float]) -> None:
        metrics = {f"clocks/{name}": value for name, value in row.items()}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=int(row["step"]))

    def write_results(self, run_dir: Path, data: RuleDataModule, module: GenerativeModule, steps_trained: int) -> None:
        """Rewrite ``curves.csv`` and ``clocks.json`` of ``module``, trained on ``data``, in ``run_dir``, atomically."""
        write_curves(run_dir / CURVES_FILE, self.rows)
        payload = {
            **self.clocks().to_dict(),
            "rule": data.rule.describe(),
            "model": {"family": module.family, "class": type(module).__name__, **_public(module.hparams)},
            "n_train": data.n_train,
            "n_control": data.n_control,
            "seed": data.seed,
            "sampling_seed": self.sampling_seed,
            "num_samples": self.num_samples,
            "steps_trained": steps_trained,
            "evaluations": len(self.rows),
            "evaluation_seconds": round(self.evaluation_seconds, 3),
            "final_metrics": self.rows[-1],
        }
        write_json(run_dir / CLOCKS_FILE, payload)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and trainer.is_global_zero:
                logger.experiment.define_metric("clocks/step")
                logger.experiment.define_metric("clocks/*", step_metric="clocks/step")

    # ----------------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "evaluation_seconds": self.evaluation_seconds, "rule": self.rule_description}

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        """Remember the step of a loaded checkpoint (``clocks validate`` does not restore the loop's step)."""
        self.checkpoint_step = int(checkpoint["global_step"])

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])
        self.evaluation_seconds = float(state_dict.get("evaluation_seconds", 0.0))


def _public(hparams: Any) -> dict[str, Any]:
    """Hyperparameters without the CLI's private bookkeeping keys (``_class_path``, ...)."""
    return {name: value for name, value in dict(hparams).items() if not name.startswith("_")}


#: Rates drawn together in one W&B line plot at the end of training.
WANDB_LINE_PLOT_RATES = ("validity", "copy_rate", "novel_valid", "control_copy_rate")


def _summarize_to_wandb(logger: WandbLogger, clocks: Clocks, rows: list[dict[str, float]]) -> None:
    """Clocks in the W&B run summary, the curves as a table, and validity with copy rate in one line plot."""
    import wandb

    run = logger.experiment
    for name, value in clocks.to_dict().items():
        run.summary[f"clocks/{name}"] = value
    columns = list(rows[0])
    logger.log_table(key="clocks/curves", columns=columns, data=[[row[name] for name in columns] for row in rows])
    rates = [name for name in WANDB_LINE_PLOT_RATES if name in rows[0]]
    line_plot = wandb.plot.line_series(
        xs=[row["step"] for row in rows],
        ys=[[row[name] for row in rows] for name in rates],
        keys=rates,
        title="Validity and copy rate against training step",
        xname="step",
    )
    run.log({"clocks_plots/validity_and_copy_rate": line_plot})
