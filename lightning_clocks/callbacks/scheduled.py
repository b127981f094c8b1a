"""ScheduledCallback: the base of every callback that measures a model at scheduled optimizer steps.

It owns what the clock, basin and pair callbacks share: the evaluation schedule (explicit steps, or
log-spaced from ``first_step`` to ``trainer.max_steps``), the rows measured so far (kept in
checkpoints, so a resumed run continues them and never measures a step twice), the time spent
measuring, and logging ``<prefix>/<name>`` to every logger against ``<prefix>/step``. On W&B each
logged key is tied to ``<prefix>/step`` by its own ``define_metric``, so no glob of Lightning's can
choose another x axis.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import lightning as L
from lightning.pytorch.loggers import WandbLogger

from lightning_clocks.callbacks.interrupt import unless_stopping
from lightning_clocks.clocks import log_spaced_steps
from lightning_clocks.errors import ConfigError, check_steps, require_at_most, require_positive

#: The most evaluations a schedule may have: each one samples the model, so more would never finish.
MAX_EVALUATIONS = 10_000


class ScheduledCallback(L.Callback):
    """Measures the model at scheduled steps; subclasses say what a measurement is (:meth:`measure`)."""

    #: The config section of the callback's options (``clocks``, ``basins``), used in error messages, and the
    #: prefix of its logged keys.
    prefix: ClassVar[str]

    def __init__(self, eval_steps: list[int] | None, num_evaluations: int, first_step: int) -> None:
        super().__init__()
        require_positive(f"{self.prefix}.num_evaluations", num_evaluations)
        require_at_most(
            f"{self.prefix}.num_evaluations", num_evaluations, MAX_EVALUATIONS, "each one samples the model"
        )
        require_positive(f"{self.prefix}.first_step", first_step)
        check_steps(f"{self.prefix}.eval_steps", eval_steps)
        self.eval_steps = eval_steps
        self.num_evaluations = num_evaluations
        self.first_step = first_step
        self.rows: list[dict[str, Any]] = []
        self.schedule: list[int] = []
        self.evaluation_seconds = 0.0
        self._defined_keys: set[str] = set()

    # ----------------------------------------------------------------- schedule
    def resolve_schedule(self, max_steps: int) -> list[int]:
        """The evaluation steps of a run of ``max_steps``; a ConfigError for a schedule that cannot run."""
        if self.eval_steps is not None:
            if max_steps > 0 and self.eval_steps[-1] > max_steps:
                raise ConfigError(
                    f"{self.prefix}.eval_steps ends at {self.eval_steps[-1]}, beyond trainer.max_steps={max_steps}; "
                    f"allowed: steps <= {max_steps}"
                )
            return list(self.eval_steps)
        if max_steps < 1:
            raise ConfigError(
                f"trainer.max_steps={max_steps}: a log-spaced evaluation schedule needs trainer.max_steps >= 1 "
                f"(or give {self.prefix}.eval_steps explicitly)"
            )
        if self.first_step > max_steps:
            raise ConfigError(
                f"{self.prefix}.first_step={self.first_step} is beyond trainer.max_steps={max_steps}; "
                f"allowed: 1 <= first_step <= {max_steps}"
            )
        return log_spaced_steps(self.first_step, max_steps, self.num_evaluations)

    @property
    def last_step(self) -> int:
        """The step of the newest row (0 before the first evaluation)."""
        return int(self.rows[-1]["step"]) if self.rows else 0

    def is_due(self, step: int) -> bool:
        """Whether ``step`` is a scheduled evaluation that has no row yet."""
        return step > self.last_step and step in self.schedule

    def timed(self, measure: Any, *args: Any) -> Any:
        """``measure(*args)``, adding its wall time to :attr:`evaluation_seconds`."""
        started = time.perf_counter()
        try:
            return measure(*args)
        finally:
            self.evaluation_seconds += time.perf_counter() - started

    # ----------------------------------------------------------------- logging
    def log_metrics(self, trainer: L.Trainer, metrics: Mapping[str, float], step: int) -> None:
        """Log ``metrics`` as ``<prefix>/<name>`` with ``<prefix>/step`` to every logger of ``trainer``.

        Not named ``log``: Lightning overwrites every callback's ``log`` with the LightningModule's.
        """
        logged = {f"{self.prefix}/step": step, **{f"{self.prefix}/{name}": value for name, value in metrics.items()}}
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and trainer.is_global_zero:
                with unless_stopping("define_metric"):
                    self._define_wandb_metrics(logger, logged)
            logger.log_metrics(logged, step=step)

    def _define_wandb_metrics(self, logger: WandbLogger, logged: Mapping[str, float]) -> None:
        """Tie every new key to ``<prefix>/step`` explicitly (Lightning's ``*`` glob would otherwise compete)."""
        step_key = f"{self.prefix}/step"
        new_keys = [key for key in logged if key not in self._defined_keys]
        if not new_keys:
            return
        run = logger.experiment
        if step_key not in self._defined_keys:
            run.define_metric(step_key)
        for key in new_keys:
            if key != step_key:
                run.define_metric(key, step_metric=step_key)
        self._defined_keys.update(new_keys)

    # ----------------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "evaluation_seconds": self.evaluation_seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])
        self.evaluation_seconds = float(state_dict.get("evaluation_seconds", 0.0))
