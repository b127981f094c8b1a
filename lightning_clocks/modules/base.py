"""What the DiT and GPT LightningModules share: the optimizer, the training step and ``generate``.

Sampling is split into drawing the sampling noise (uniforms for the GPT, Gaussian cells for the
DiT) and a deterministic map from noise to samples. Sample ``i`` of an evaluation is a function
of the weights and row ``i`` of the noise only, so results do not depend on the sampling batch
size or on how many ranks share the work.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch

from lightning_clocks.errors import ConfigError, NonFiniteLossError, require_non_negative, require_positive
from lightning_clocks.modules.loss_logging import LossLoggingModule

if TYPE_CHECKING:
    from lightning_clocks.basins.probe import BasinProbe

#: ``torch.compile`` modes of the training loss (``model.compile_mode``); ``reduce-overhead`` adds CUDA graphs.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class GenerativeModule(LossLoggingModule):
    """Base class of the generative models whose clocks we measure.

    A new model family is a subclass (docs/extending.md): it names its :attr:`family` and
    :attr:`capacity_keys`, draws its training and sampling noise, maps noise to a loss and to samples, and
    says how its basins are measured. Nothing elsewhere in the package dispatches on the subclass. A subclass
    passes the optimizer settings on with ``**kwargs``, resolves anything that changes its own arguments (a size
    preset) before calling ``super().__init__``, which saves every argument as a hyperparameter.
    """

    #: Model family name written to results (``dit``, ``gpt``).
    family: ClassVar[str]
    #: The hyperparameters that set the model's capacity, compared by ``clocks report`` across runs.
    capacity_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        sequence_length: int,
        vocab_size: int,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.99),
        warmup_steps: int = 0,
        compile_mode: str | None = None,
    ) -> None:
        """
        Args:
            sequence_length: L, linked from the data's rule by the CLI.
            vocab_size: K, linked from the data's rule by the CLI.
            lr: AdamW learning rate.
            weight_decay: AdamW weight decay.
            betas: AdamW betas.
            warmup_steps: linear learning-rate warm-up (0: none).
            compile_mode: ``torch.compile`` mode of the training loss (null: eager); see docs/performance.md.
        """
        super().__init__()
        require_positive("model.sequence_length", sequence_length)
        if not lr > 0 or not math.isfinite(lr):
            raise ConfigError(f"model.lr={lr} is invalid: the learning rate must be a positive number")
        if warmup_steps < 0:
            raise ConfigError(f"model.warmup_steps={warmup_steps} is invalid: it must be >= 0")
        require_non_negative("model.weight_decay", weight_decay)
        if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
            raise ConfigError(f"model.betas={list(betas)} is invalid; allowed: two numbers in [0, 1)")
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            allowed = ["null (eager)", *COMPILE_MODES]
            raise ConfigError(f"model.compile_mode={compile_mode!r} is unknown; allowed: {allowed}")
        # Lightning collects the arguments of every __init__ on the stack: this class's and the subclass's.
        self.save_hyperparameters()
        self.sequence_length = sequence_length
        self.vocab_size = vocab_size
        self.fault: str | None = None
        self.fault_step = 0

    @abstractmethod
    def training_noise(self, batch_size: int, step: int, rank: int) -> tuple[torch.Tensor, ...]:
        """All randomness of the training loss of ``step`` on ``rank`` (drawn from its own seeded generator)."""

    @abstractmethod
    def loss_given_noise(self, batch: torch.Tensor, *noise: torch.Tensor) -> torch.Tensor:
        """The loss of ``batch`` given its ``training_noise``: a pure function that ``torch.compile`` and
        ``torch.vmap`` can take."""

    @cached_property
    def compiled_loss(self) -> Callable[..., torch.Tensor]:
        """``loss_given_noise``, compiled with ``compile_mode`` unless it is None (sampling always runs eagerly)."""
        if self.hparams["compile_mode"] is None:
            return self.loss_given_noise
        return torch.compile(self.loss_given_noise, mode=self.hparams["compile_mode"])

    def training_loss(self, batch: torch.Tensor) -> torch.Tensor:
        """The loss of one batch of token sequences ``LongTensor[B, L]`` at this step on this rank."""
        noise = self.training_noise(batch.shape[0], self.global_step, self.global_rank)
        return self.compiled_loss(batch, *noise)

    @abstractmethod
    def sampling_noise(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """All randomness of ``num_samples`` samples, drawn on the CPU from ``generator``."""

    @abstractmethod
    def samples_from_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """The deterministic map from sampling noise (on this module's device) to ``LongTensor[B, L]`` samples."""

    def measure_basins(self, probe: BasinProbe, step: int, sampler_steps: int | None) -> list[dict[str, object]]:
        """The basin rows of ``probe`` for this model's current weights at ``step`` (docs/method.md, "Basins");
        ``sampler_steps`` overrides the model's own where it integrates an ODE."""
        raise ConfigError(f"{type(self).__name__} does not measure basins; allowed: a DiffusionModule or a GPT")

    @torch.no_grad()
    def generate(self, num_samples: int, generator: torch.Generator, batch_size: int = 1024) -> torch.Tensor:
        """Draw ``num_samples`` samples (``LongTensor[num_samples, L]``) with the model in eval mode."""
        return self.decode_noise(self.sampling_noise(num_samples, generator), batch_size)

    @torch.no_grad()
    def decode_noise(self, noise: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Samples for CPU ``noise``, computed in batches of ``batch_size`` on this module's device."""
        was_training = self.training
        self.eval()
        try:
            chunks = [self.samples_from_noise(chunk.to(self.device)) for chunk in torch.split(noise, batch_size)]
        finally:
            self.train(was_training)
        if not chunks:
            return torch.empty(0, self.sequence_length, dtype=torch.long, device=self.device)
        return torch.cat(chunks)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor | None:
        loss = self.training_loss(batch)
        self.last_loss = loss.detach()
        if not torch.isfinite(loss):
            # Skip this update and stop; on_train_end saves the last good state after the callbacks wrote the curves.
            self.fault_step = self.global_step
            self.fault = f"training loss became {loss.item()} after {self.fault_step} optimizer steps"
            self.trainer.should_stop = True
            return None
        return loss

    def on_train_end(self) -> None:
        """After a non-finite loss: save the weights of the last good step (if they are finite) and fail clearly."""
        if self.fault is None:
            return
        if all(bool(torch.isfinite(parameter).all()) for parameter in self.parameters()):
            checkpoint_dir = getattr(self.trainer.checkpoint_callback, "dirpath", None)
            folder = Path(checkpoint_dir or Path(self.trainer.default_root_dir) / "checkpoints")
            path = folder / f"last-good-step{self.fault_step}.ckpt"
            self.trainer.save_checkpoint(path)
            saved = f"the last good state is saved in {path}"
        else:
            saved = "the weights were already non-finite: resume from the latest periodic checkpoint"
        raise NonFiniteLossError(
            f"{self.fault}; curves and clocks are saved; {saved}; lower model.lr or check the data"
        )

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """Nothing per batch: the ClockCallback evaluates generated samples at the end of validation."""

    def configure_optimizers(self) -> dict[str, object]:
        hparams = self.hparams
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=hparams["lr"], betas=hparams["betas"], weight_decay=hparams["weight_decay"]
        )
        warmup = max(hparams["warmup_steps"], 1)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
