"""Sparse parity (docs/method.md, "Rules").

A sequence of ``length`` bits is valid when the ``k`` bits at a fixed subset of
positions have even parity; all other bits are free. The subset is drawn once from
``subset_seed``, so a config names the same rule on every machine. ``k`` is the
complexity knob: the model must find which ``k`` of the ``length`` positions matter
and compute their parity. Half of all sequences are valid, whatever ``k`` is.
"""

from __future__ import annotations

import torch

from lightning_clocks.errors import ConfigError, require_positive
from lightning_clocks.rules.base import Rule


class SparseParity(Rule):
    """Even parity over ``k`` fixed positions chosen by ``subset_seed``."""

    name = "sparse_parity"

    def __init__(self, length: int = 36, k: int = 4, subset_seed: int = 0) -> None:
        """
        Args:
            length: number of bits L.
            k: size of the parity subset (the complexity knob), ``1 <= k <= length``.
            subset_seed: seed of the ``torch.randperm`` that picks the subset; a non-negative integer.
        """
        require_positive("data.rule.length", length)
        require_positive("data.rule.k", k)
        if k > length:
            raise ConfigError(f"data.rule.k={k} is invalid for data.rule.length={length}: allowed 1 <= k <= {length}")
        if not isinstance(subset_seed, int) or isinstance(subset_seed, bool) or subset_seed < 0:
            raise ConfigError(f"data.rule.subset_seed={subset_seed!r} is invalid: it must be a non-negative integer")
        super().__init__(length=length, vocab_size=2)
        self.k = k
        self.subset_seed = subset_seed
        generator = torch.Generator().manual_seed(subset_seed)
        #: The ``k`` positions whose parity must be even, sorted.
        self.positions = torch.randperm(length, generator=generator)[:k].sort().values

    @property
    def complexity(self) -> float:
        return float(self.k)

    @property
    def valid_count(self) -> int:
        return 2 ** (self.length - 1)

    def is_valid(self, sequences: torch.Tensor) -> torch.Tensor:
        self.check_sequences(sequences)
        binary = ((sequences == 0) | (sequences == 1)).all(dim=-1)
        return binary & (sequences[:, self.positions.to(sequences.device)].sum(dim=-1) % 2 == 0)

    def sample(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Exactly uniform: all bits are fair coins except the last subset bit, which fixes the parity."""
        bits = torch.randint(0, 2, (num_samples, self.length), generator=generator)
        bits[:, self.positions[-1]] = bits[:, self.positions[:-1]].sum(dim=-1) % 2
        return bits

    def describe(self) -> dict[str, object]:
        positions = self.positions.tolist()
        return {**super().describe(), "k": self.k, "subset_seed": self.subset_seed, "positions": positions}
