"""BasinCallback: measure basins of attraction and the learned score on a log-spaced schedule (SPEC §3).

Added through ``trainer.callbacks`` in a config (see ``configs/basins_dit_cpu.yaml``), it
measures a :class:`lightning_clocks.basins.BasinProbe` at each scheduled optimizer step: for a
DiT the probability-flow return rates, basin radii and denoiser distances; for a GPT the
log-likelihoods and bit-flip return rates. It rewrites ``basins.csv`` (one row per evaluation x
target class x noise level, schema in ``lightning_clocks.basins``) atomically in the run folder,
logs ``basins/*`` to every logger against ``basins/step``, and keeps its rows in checkpoints so
a resumed run continues them. Rank 0 measures; the other ranks only train.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any, Literal

import lightning as L
from lightning.pytorch.loggers import WandbLogger

from lightning_clocks.basins import DEFAULT_FLIPS, DEFAULT_SIGMAS, BasinProbe, summary_metrics
from lightning_clocks.basins_csv import BASINS_FILE
from lightning_clocks.clocks import log_spaced_steps
from lightning_clocks.data import RuleDataModule
from lightning_clocks.errors import ConfigError
from lightning_clocks.modules import AutoregressiveModule, DiffusionModule, GenerativeModule
from lightning_clocks.results import write_curves
from lightning_clocks.rules.base import require_positive


class BasinCallback(L.Callback):
    """Measures basins of attraction of training, control and invalid samples on a schedule."""

    def __init__(
        self,
        eval_steps: list[int] | None = None,
        num_evaluations: int = 12,
        first_step: int = 10,
        sigmas: list[float] | None = None,
        flips: list[int] | None = None,
        num_train_targets: int = 64,
        num_control_targets: int = 64,
        num_invalid_targets: int = 64,
        sampler_steps: int | None = None,
        return_threshold: float = 0.5,
        seed: int = 0,
        batch_size: int = 1024,
        chunk_size: int = 4096,
        max_enumerated: int = 100_000,
        flip_resampling: Literal["prefix", "exact"] = "prefix",
    ) -> None:
        """
        Args:
            eval_steps: explicit, increasing evaluation steps; default is a log-spaced schedule.
            num_evaluations: evaluations in the log-spaced schedule (from first_step to trainer.max_steps).
            first_step: first step of the log-spaced schedule.
            sigmas: noise levels of the DiT basins (default 0.05 .. 5).
            flips: numbers of changed cells of the GPT basins (default 1, 2, 3, 4, 6, 8; capped at L).
            num_train_targets: training samples measured (capped at N; 0 leaves the class out).
            num_control_targets: held-out valid samples measured (capped at the control set).
            num_invalid_targets: uniformly random invalid sequences measured.
            sampler_steps: Heun steps from each sigma down to 0 (default: the model's sampler_steps).
            return_threshold: a class has a basin at a noise level where its return rate is at least this.
            seed: seed of the targets, the noise and the flips (the same at every evaluation).
            batch_size: targets integrated at once.
            chunk_size: training points per chunk of the empirical-optimal denoiser.
            max_enumerated: largest valid set enumerated for the exact population denoiser.
            flip_resampling: GPT only: ``prefix`` resamples flipped cells left to right from p(x_t | x_<t);
                ``exact`` draws them jointly from the exact conditional given all other cells.
        """
        super().__init__()
        for option, value in (
            ("basins.num_evaluations", num_evaluations),
            ("basins.first_step", first_step),
            ("basins.batch_size", batch_size),
            ("basins.chunk_size", chunk_size),
        ):
            require_positive(option, value)
        if sampler_steps is not None:
            require_positive("basins.sampler_steps", sampler_steps)
        counts = {"train": num_train_targets, "control": num_control_targets, "invalid": num_invalid_targets}
        if any(count < 0 for count in counts.values()) or not any(counts.values()):
            raise ConfigError(f"basins target counts {counts} are invalid: each must be >= 0 and one must be > 0")
        if eval_steps is not None and (
            not eval_steps or eval_steps[0] < 1 or any(b <= a for a, b in itertools.pairwise(eval_steps))
        ):
            raise ConfigError(f"basins.eval_steps={eval_steps} is invalid: it must be strictly increasing steps >= 1")
        self.eval_steps = eval_steps
        self.num_evaluations = num_evaluations
        self.first_step = first_step
        self.sigmas = list(DEFAULT_SIGMAS if sigmas is None else sigmas)
        self.flips = list(DEFAULT_FLIPS if flips is None else flips)
        self.counts = counts
        self.sampler_steps = sampler_steps
        self.return_threshold = return_threshold
        self.seed = seed
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.max_enumerated = max_enumerated
        self.flip_resampling = flip_resampling
        self.rows: list[dict[str, object]] = []
        self.schedule: list[int] = []
        self.evaluation_seconds = 0.0
        self.probe: BasinProbe | None = None

    def resolve_schedule(self, max_steps: int) -> list[int]:
        """The evaluation steps for a run of ``max_steps``; raises ConfigError on an impossible schedule."""
        if self.eval_steps is not None:
            if max_steps > 0 and self.eval_steps[-1] > max_steps:
                raise ConfigError(
                    f"basins.eval_steps ends at {self.eval_steps[-1]}, beyond trainer.max_steps={max_steps}; "
                    f"allowed: steps <= {max_steps}"
                )
            return list(self.eval_steps)
        if max_steps < 1 or self.first_step > max_steps:
            raise ConfigError(
                f"basins.first_step={self.first_step} with trainer.max_steps={max_steps}: a log-spaced schedule "
                "needs 1 <= first_step <= max_steps (or give basins.eval_steps explicitly)"
            )
        return log_spaced_steps(self.first_step, max_steps, self.num_evaluations)

    def build_probe(self, data: RuleDataModule) -> BasinProbe:
        """The probe for the data's rule, training and control sets, with this callback's settings."""
        flips = [k for k in self.flips if k <= data.rule.length] or [data.rule.length]
        return BasinProbe(
            data.rule,
            data.train_set,
            data.control_set,
            self.sigmas,
            flips,
            self.counts,
            seed=self.seed,
            return_threshold=self.return_threshold,
            batch_size=self.batch_size,
            chunk_size=self.chunk_size,
            max_enumerated=self.max_enumerated,
            flip_resampling=self.flip_resampling,
        )

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not isinstance(pl_module, (DiffusionModule, AutoregressiveModule)):
            raise ConfigError(
                f"BasinCallback needs a DiffusionModule or AutoregressiveModule, got {type(pl_module).__name__}"
            )
        if not isinstance(trainer.datamodule, RuleDataModule):
            raise ConfigError("BasinCallback needs the RuleDataModule (trainer.datamodule)")
        if stage == "fit":
            self.schedule = self.resolve_schedule(trainer.max_steps)
            self.probe = self.build_probe(trainer.datamodule)

    def measure(self, pl_module: GenerativeModule, data: RuleDataModule, step: int) -> list[dict[str, object]]:
        """This evaluation's rows for the module's current weights (the module is put in eval mode meanwhile)."""
        if self.probe is None:
            self.probe = self.build_probe(data)
        return measure_module(self.probe, pl_module, step, self.sampler_steps)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        last_step = int(self.rows[-1]["step"]) if self.rows else 0
        if step <= last_step or step not in self.schedule or not trainer.is_global_zero:
            return
        started = time.perf_counter()
        rows = self.measure(pl_module, trainer.datamodule, step)
        self.evaluation_seconds += time.perf_counter() - started
        self.rows += rows
        metrics = {"basins/step": step, **summary_metrics(rows)}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
        write_curves(Path(trainer.default_root_dir) / BASINS_FILE, self.rows)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and trainer.is_global_zero:
                logger.experiment.define_metric("basins/step")
                logger.experiment.define_metric("basins/*", step_metric="basins/step")

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "evaluation_seconds": self.evaluation_seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])
        self.evaluation_seconds = float(state_dict.get("evaluation_seconds", 0.0))


def measure_module(
    probe: BasinProbe, module: GenerativeModule, step: int, sampler_steps: int | None = None
) -> list[dict[str, object]]:
    """Measure ``probe`` on a DiT or GPT module at ``step`` (in eval mode, restoring its training mode)."""
    was_training = module.training
    module.eval()
    try:
        if isinstance(module, DiffusionModule):
            hparams = module.hparams
            return probe.measure_diffusion(
                step,
                module.denoise,
                module.encoding,
                sampler_steps or int(hparams["sampler_steps"]),
                float(hparams["sigma_min"]),
                float(hparams["rho"]),
                module.device,
            )
        if isinstance(module, AutoregressiveModule):
            return probe.measure_autoregressive(step, module.gpt, module.temperature, module.device)
        raise ConfigError(f"basins need a DiffusionModule or AutoregressiveModule, got {type(module).__name__}")
    finally:
        module.train(was_training)
