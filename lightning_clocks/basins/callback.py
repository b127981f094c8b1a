"""BasinCallback: measure basins of attraction and the learned score on a log-spaced schedule.

Added through ``trainer.callbacks`` in a config (see ``configs/basins_dit_cpu.yaml``), it measures a
:class:`~lightning_clocks.basins.probe.BasinProbe` at each scheduled optimizer step (docs/method.md,
"Basins"): for a DiT the probability-flow return rates, basin radii beside their reference radii, and
denoiser distances; for a GPT the log-likelihoods and bit-flip return rates; the module itself says how
(:meth:`~lightning_clocks.modules.base.GenerativeModule.measure_basins`). It rewrites ``basins.csv`` (one
row per evaluation x target class x noise level, schema in :mod:`lightning_clocks.basins.probe`)
atomically in the run folder, logs ``basins/*`` to every logger against ``basins/step``, and keeps its
rows and the references' return outcomes (measured once, at the first evaluation) in checkpoints so a
resumed run continues them. Rank 0 measures; the other ranks only train.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import lightning as L

from lightning_clocks.basins.probe import DEFAULT_FLIPS, DEFAULT_SIGMAS, BasinProbe, summary_metrics
from lightning_clocks.basins.table import write_basins
from lightning_clocks.callbacks.ema import measured_module
from lightning_clocks.callbacks.scheduled import ScheduledCallback
from lightning_clocks.data import RuleDataModule
from lightning_clocks.errors import ConfigError, require_positive
from lightning_clocks.modules.base import GenerativeModule
from lightning_clocks.results import BASINS_FILE


class BasinCallback(ScheduledCallback):
    """Measures basins of attraction of training, control and invalid samples on a schedule."""

    prefix = "basins"

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
            sigmas: noise levels of the DiT basins (default 11 levels from the untrained network's floor, 0.5, to 3).
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
        super().__init__(eval_steps, num_evaluations, first_step)
        if sampler_steps is not None:
            require_positive("basins.sampler_steps", sampler_steps)
        counts = {"train": num_train_targets, "control": num_control_targets, "invalid": num_invalid_targets}
        if any(count < 0 for count in counts.values()) or not any(counts.values()):
            raise ConfigError(f"basins target counts {counts} are invalid: each must be >= 0 and one must be > 0")
        self.sampler_steps = sampler_steps
        #: The BasinProbe's settings; its constructor checks them against the run's rule when training starts.
        self.probe_settings: dict[str, Any] = {
            "sigmas": list(DEFAULT_SIGMAS if sigmas is None else sigmas),
            "flips": list(DEFAULT_FLIPS if flips is None else flips),
            "counts": counts,
            "seed": seed,
            "return_threshold": return_threshold,
            "batch_size": batch_size,
            "chunk_size": chunk_size,
            "max_enumerated": max_enumerated,
            "flip_resampling": flip_resampling,
        }
        self.probe: BasinProbe | None = None
        #: The references' return outcomes from a checkpoint, handed to the probe at the next measurement.
        self.restored_references: dict[str, dict[str, Any]] | None = None

    def build_probe(self, data: RuleDataModule) -> BasinProbe:
        """The probe for the data's rule, training and control sets, with this callback's settings."""
        flips = [k for k in self.probe_settings["flips"] if k <= data.rule.length] or [data.rule.length]
        return BasinProbe(data.rule, data.train_set, data.control_set, **{**self.probe_settings, "flips": flips})

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not isinstance(pl_module, GenerativeModule):
            raise ConfigError(f"BasinCallback needs a GenerativeModule, got {type(pl_module).__name__}")
        if not isinstance(trainer.datamodule, RuleDataModule):
            raise ConfigError("BasinCallback needs the RuleDataModule (trainer.datamodule)")
        if stage == "fit":
            self.schedule = self.resolve_schedule(trainer.max_steps)
            self.probe = self.build_probe(trainer.datamodule)

    def measure(self, module: GenerativeModule, data: RuleDataModule, step: int) -> list[dict[str, object]]:
        """This evaluation's rows for the module's current weights (the module is put in eval mode meanwhile)."""
        if self.probe is None:
            self.probe = self.build_probe(data)
        if self.probe.reference_returns is None and self.probe.fits_references(self.restored_references):
            self.probe.reference_returns = self.restored_references
        was_training = module.training
        module.eval()
        try:
            return module.measure_basins(self.probe, step, self.sampler_steps)
        finally:
            module.train(was_training)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if not self.is_due(step) or not trainer.is_global_zero:
            return
        rows = self.timed(self.measure, measured_module(trainer, pl_module), trainer.datamodule, step)
        self.rows += rows
        self.log_metrics(trainer, summary_metrics(rows), step)
        write_basins(Path(trainer.default_root_dir) / BASINS_FILE, self.rows)

    def state_dict(self) -> dict[str, Any]:
        """The rows and, once measured, the reference denoisers' return outcomes, so a resumed run reuses them."""
        references = None if self.probe is None else self.probe.reference_returns
        return {**super().state_dict(), "reference_returns": references}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.restored_references = state_dict.get("reference_returns")
