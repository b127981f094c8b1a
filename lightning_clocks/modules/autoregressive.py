"""The GPT as a LightningModule: next-token cross-entropy, ancestral sampling with a KV cache."""

from __future__ import annotations

import torch

from lightning_clocks.errors import ConfigError
from lightning_clocks.models.gpt import GPT, GPTConfig
from lightning_clocks.modules.base import GenerativeModule
from lightning_clocks.rules.base import require_positive


class AutoregressiveModule(GenerativeModule):
    """nanoGPT-style decoder trained on rule sequences."""

    family = "gpt"

    def __init__(
        self,
        sequence_length: int = 36,
        vocab_size: int = 2,
        n_layer: int = 2,
        n_head: int = 4,
        n_embd: int = 64,
        dropout: float = 0.0,
        temperature: float = 1.0,
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
            n_layer: transformer blocks.
            n_head: attention heads per block.
            n_embd: embedding width.
            dropout: dropout rate in training.
            temperature: sampling temperature (1 samples the model's distribution).
            lr: AdamW learning rate.
            weight_decay: AdamW weight decay.
            betas: AdamW betas.
            warmup_steps: linear learning-rate warm-up (0: none).
            compile_mode: ``torch.compile`` mode of the training loss (null: eager); see docs/performance.md.
        """
        super().__init__(sequence_length, vocab_size, lr, weight_decay, betas, warmup_steps, compile_mode)
        for option, value in (("model.n_layer", n_layer), ("model.n_head", n_head), ("model.n_embd", n_embd)):
            require_positive(option, value)
        if n_embd % n_head:
            raise ConfigError(f"model.n_embd={n_embd} must be divisible by model.n_head={n_head}")
        if not temperature > 0:
            raise ConfigError(f"model.temperature={temperature} is invalid: it must be > 0")
        self.save_hyperparameters()
        self.temperature = temperature
        self.gpt = GPT(GPTConfig(sequence_length, vocab_size, n_layer, n_head, n_embd, dropout))

    def training_noise(self, batch_size: int, step: int, rank: int) -> tuple[torch.Tensor, ...]:
        """No noise: the GPT's loss is a function of the batch (dropout, if any, draws its own masks)."""
        return ()

    def loss_given_noise(self, batch: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy of ``batch``."""
        return self.gpt.loss(batch)

    def sampling_noise(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(num_samples, self.sequence_length, generator=generator)

    def samples_from_noise(self, noise: torch.Tensor) -> torch.Tensor:
        return self.gpt.generate(noise, self.temperature)
