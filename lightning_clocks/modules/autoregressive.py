"""The GPT as a LightningModule: next-token cross-entropy, ancestral sampling with a KV cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from lightning_clocks.errors import ConfigError, require_positive
from lightning_clocks.models.gpt import GPT, GPTConfig
from lightning_clocks.modules.base import GenerativeModule

if TYPE_CHECKING:
    from lightning_clocks.basins.probe import BasinProbe


class AutoregressiveModule(GenerativeModule):
    """nanoGPT-style decoder trained on rule sequences."""

    family = "gpt"
    capacity_keys = ("n_layer", "n_embd", "n_head")

    def __init__(
        self,
        sequence_length: int = 36,
        vocab_size: int = 2,
        n_layer: int = 2,
        n_head: int = 4,
        n_embd: int = 64,
        dropout: float = 0.0,
        temperature: float = 1.0,
        **kwargs: Any,
    ) -> None:
        """
        Args:
            sequence_length: L, linked from the data's rule by the CLI.
            vocab_size: K, linked from the data's rule by the CLI.
            n_layer: transformer blocks.
            n_head: attention heads per block.
            n_embd: embedding width.
            dropout: dropout rate in training.
            temperature: sampling temperature (1 samples the model's distribution).
            **kwargs: the optimizer settings of :class:`~lightning_clocks.modules.base.GenerativeModule`.
        """
        super().__init__(sequence_length, vocab_size, **kwargs)
        for option, value in (("model.n_layer", n_layer), ("model.n_head", n_head), ("model.n_embd", n_embd)):
            require_positive(option, value)
        if n_embd % n_head:
            raise ConfigError(f"model.n_embd={n_embd} must be divisible by model.n_head={n_head}")
        if not 0 <= dropout < 1:
            raise ConfigError(f"model.dropout={dropout} is invalid; allowed: a rate in [0, 1)")
        if not temperature > 0:
            raise ConfigError(f"model.temperature={temperature} is invalid: it must be > 0")
        self.temperature = temperature
        self.gpt = GPT(GPTConfig(sequence_length, vocab_size, n_layer, n_head, n_embd, dropout))

    def training_noise(self, batch_size: int, step: int, rank: int) -> tuple[torch.Tensor, ...]:
        """No noise: the GPT's loss is a function of the batch (dropout, if any, draws its own masks)."""
        return ()

    def loss_given_noise(self, batch: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy of ``batch``."""
        return self.gpt.loss(batch)

    def measure_basins(self, probe: BasinProbe, step: int, sampler_steps: int | None) -> list[dict[str, object]]:
        """Bit-flip basins and the log-likelihood of each target class (``sampler_steps`` does not apply)."""
        return probe.measure_autoregressive(step, self.gpt, self.temperature, self.device)

    def sampling_noise(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(num_samples, self.sequence_length, generator=generator)

    def samples_from_noise(self, noise: torch.Tensor) -> torch.Tensor:
        return self.gpt.generate(noise, self.temperature)
