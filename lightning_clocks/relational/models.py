"""Plain ``nn.Module``s that score an ordered pair of items: an MLP over pair features, a transformer over two tokens.

Both map a ``LongTensor[B, 2]`` of 0-based item pairs to one real output per pair, ``f(i, j)``, read as
"the first item wins" when positive (the model output of the kernel theory, which these networks train
by gradient descent instead of solving exactly).

The MLP's input is a fixed feature vector of the pair from :mod:`lightning_clocks.relational.kernels`:
the ``additive`` code ``[e_i ; e_j] / sqrt(2)``, the ``conjunctive`` one-hot of the ordered pair, or the
``mixed`` code whose linear kernel has conjunctivity ``alpha``. With no hidden layer (``hidden: []``) the
MLP is the linear readout of the features, i.e. the kernel model itself. Hidden layers with a nonlinear
activation add conjunctivity of their own (the tangent kernel of a wide ReLU layer without biases on the
additive code is the family member with alpha = 0.26), so a ReLU MLP on additive features can still fit the
exception; ``activation: identity`` keeps a deep network linear in its features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import torch
from torch import nn

from lightning_clocks.errors import ConfigError
from lightning_clocks.models.gpt import GPT, Block, GPTConfig
from lightning_clocks.relational.kernels import (
    additive_features,
    conjunctive_features,
    kappas_from_alpha,
    mixed_features,
)

#: The input representations of :class:`PairMLP`.
REPRESENTATIONS: Final = ("additive", "conjunctive", "mixed")
#: Hidden-layer activations of :class:`PairMLP`.
ACTIVATIONS: Final = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "identity": nn.Identity}


def pair_feature_table(num_items: int, representation: str, alpha: float = 0.5, kappa_d: float = 0.0) -> np.ndarray:
    """Features of every ordered pair ``(i, j)`` (``i == j`` included), row ``i * num_items + j``: float64 ``[n*n, d]``.

    ``alpha`` and ``kappa_d`` apply to the ``mixed`` representation only.
    """
    pairs = [(i, j) for i in range(num_items) for j in range(num_items)]
    if representation == "additive":
        return additive_features(pairs, num_items)
    if representation == "conjunctive":
        return conjunctive_features(pairs, num_items)
    if representation == "mixed":
        return mixed_features(pairs, num_items, alpha, kappa_d)
    raise ConfigError(f"model.representation={representation!r} is unknown: choose one of {list(REPRESENTATIONS)}")


class PairMLP(nn.Module):
    """An MLP over a fixed feature vector of the ordered pair; the last layer is a linear readout to one output."""

    def __init__(
        self,
        num_items: int,
        representation: str = "additive",
        alpha: float = 0.5,
        kappa_d: float = 0.0,
        hidden: Sequence[int] = (64,),
        activation: str = "relu",
        zero_readout: bool = True,
    ) -> None:
        """
        Args:
            num_items: n, items in the line.
            representation: ``additive``, ``conjunctive`` or ``mixed`` input features.
            alpha: conjunctivity of the ``mixed`` features, in [0, 1].
            kappa_d: kernel value of pairs sharing no slot, for the ``mixed`` features, in [0, 1).
            hidden: widths of the hidden layers; empty for a linear readout of the features.
            activation: hidden-layer nonlinearity, one of :data:`ACTIVATIONS`.
            zero_readout: start the readout at zero, so the model starts at ``f = 0`` as the kernel theory does.
        """
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"model.activation={activation!r} is unknown: choose one of {sorted(ACTIVATIONS)}")
        if any(isinstance(width, bool) or not isinstance(width, int) or width < 1 for width in hidden):
            raise ConfigError(f"model.hidden={list(hidden)!r} is invalid: hidden widths must be positive integers")
        if representation == "mixed":
            try:
                kappas_from_alpha(alpha, kappa_d)  # validates alpha and kappa_d
            except ConfigError as error:
                raise ConfigError(f"model.{error}") from None
        self.num_items = num_items
        table = torch.tensor(pair_feature_table(num_items, representation, alpha, kappa_d), dtype=torch.float32)
        self.register_buffer("features", table, persistent=False)
        layers: list[nn.Module] = []
        width = table.shape[1]
        for hidden_width in hidden:
            layers += [nn.Linear(width, hidden_width), ACTIVATIONS[activation]()]
            width = hidden_width
        self.hidden = nn.Sequential(*layers)
        self.readout = nn.Linear(width, 1)
        if zero_readout:
            nn.init.zeros_(self.readout.weight)
            nn.init.zeros_(self.readout.bias)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """Outputs ``f(i, j)`` ``[B]`` for pairs ``LongTensor[B, 2]``."""
        features = self.features[pairs[:, 0] * self.num_items + pairs[:, 1]]
        return self.readout(self.hidden(features)).squeeze(-1)


class PairTransformer(nn.Module):
    """A small transformer over the two item tokens; the output is read from the second (last) position.

    The blocks are the GPT's pre-norm causal blocks: the last position attends to both items.
    """

    def __init__(
        self, num_items: int, n_layer: int = 2, n_head: int = 4, n_embd: int = 64, zero_readout: bool = True
    ) -> None:
        """
        Args:
            num_items: n, items in the line (the vocabulary).
            n_layer: transformer blocks.
            n_head: attention heads per block.
            n_embd: embedding width.
            zero_readout: start the readout at zero (``f = 0``).
        """
        super().__init__()
        if n_embd % n_head:
            raise ConfigError(f"model.n_embd={n_embd} must be divisible by model.n_head={n_head}")
        config = GPTConfig(sequence_length=2, vocab_size=num_items, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
        self.item_embedding = nn.Embedding(num_items, n_embd)
        self.slot_embedding = nn.Embedding(2, n_embd)
        self.blocks = nn.ModuleList(Block(config, index) for index in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.readout = nn.Linear(n_embd, 1)
        self.apply(GPT._init_weights)
        if zero_readout:
            nn.init.zeros_(self.readout.weight)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """Outputs ``f(i, j)`` ``[B]`` for pairs ``LongTensor[B, 2]``."""
        x = self.item_embedding(pairs) + self.slot_embedding.weight
        for block in self.blocks:
            x = block(x)
        return self.readout(self.ln_f(x[:, -1])).squeeze(-1)
