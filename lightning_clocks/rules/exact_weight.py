"""Exact weight (docs/method.md, "Rules").

The ``length`` bits are split into contiguous groups of ``group_size``; a sequence
is valid when every group holds exactly ``weight`` ones. ``group_size`` is the
complexity knob (a counting constraint over more bits). There are
``C(group_size, weight) ** (length / group_size)`` valid sequences.
"""

from __future__ import annotations

import math

import torch

from lightning_clocks.errors import ConfigError
from lightning_clocks.rules.base import GroupedRule


class ExactWeight(GroupedRule):
    """Exactly ``weight`` ones in every contiguous group of ``group_size`` bits."""

    name = "exact_weight"

    def __init__(self, length: int = 36, group_size: int = 6, weight: int = 3) -> None:
        """
        Args:
            length: number of bits L.
            group_size: bits per group G (the complexity knob); must divide ``length``.
            weight: number of ones each group must hold, ``0 <= weight <= group_size``.
        """
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= group_size:
            raise ConfigError(
                f"data.rule.weight={weight!r} is invalid for data.rule.group_size={group_size}: allowed 0..{group_size}"
            )
        super().__init__(length=length, group_size=group_size, vocab_size=2)
        self.weight = weight

    @property
    def valid_count(self) -> int:
        return math.comb(self.group_size, self.weight) ** self.num_groups

    def group_weights(self, sequences: torch.Tensor) -> torch.Tensor:
        """Number of ones in every group: ``LongTensor[M, num_groups]``."""
        self.check_sequences(sequences)
        return sequences.reshape(-1, self.num_groups, self.group_size).sum(dim=-1)

    def is_valid(self, sequences: torch.Tensor) -> torch.Tensor:
        return self._group_ok(sequences).all(dim=-1)

    def part_validity(self, sequences: torch.Tensor) -> torch.Tensor:
        return self._group_ok(sequences).float().mean(dim=-1)

    def _group_ok(self, sequences: torch.Tensor) -> torch.Tensor:
        """Whether each group is binary with exactly ``weight`` ones: ``BoolTensor[M, num_groups]``."""
        weights = self.group_weights(sequences)
        binary = ((sequences == 0) | (sequences == 1)).reshape(-1, self.num_groups, self.group_size).all(dim=-1)
        return binary & (weights == self.weight)

    def sample(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Exactly uniform: a random arrangement of ``weight`` ones in each group.

        Bit ``j`` of a group is one with probability ``ones_left / bits_left``, drawn as an
        integer comparison, which gives every arrangement probability ``1 / C(G, w)``.
        """
        ones_left = torch.full((num_samples, self.num_groups), self.weight, dtype=torch.long)
        bits = torch.empty(num_samples, self.num_groups, self.group_size, dtype=torch.long)
        for j in range(self.group_size):
            draw = torch.randint(0, self.group_size - j, (num_samples, self.num_groups), generator=generator)
            bits[:, :, j] = (draw < ones_left).long()
            ones_left -= bits[:, :, j]
        return bits.reshape(num_samples, self.length)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "group_size": self.group_size, "weight": self.weight}
