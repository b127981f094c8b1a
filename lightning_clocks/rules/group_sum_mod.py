"""Group sum modulo q (docs/method.md, "Rules"; any vocabulary).

Tokens are in ``{0, ..., vocab_size - 1}``; the ``length`` tokens are split into
contiguous groups of ``group_size`` and a sequence is valid when every group's sum
is ``0 mod modulus``. With ``vocab_size = modulus = 2`` this is group parity.
``group_size`` is the complexity knob. The number of valid assignments of one
group comes from a dynamic programme over the running sum modulo ``modulus``; the
valid set has that number to the power of the number of groups.
"""

from __future__ import annotations

import torch

from lightning_clocks.errors import ConfigError, require_positive
from lightning_clocks.rules.base import GroupedRule

#: The sampler draws a rank below a group's valid count as one int64; this caps ``vocab_size ** group_size``.
MAX_GROUP_ASSIGNMENTS = 2**62


class GroupSumMod(GroupedRule):
    """Every contiguous group of ``group_size`` tokens sums to ``0 mod modulus``."""

    name = "group_sum_mod"

    def __init__(self, length: int = 36, group_size: int = 3, modulus: int = 3, vocab_size: int = 2) -> None:
        """
        Args:
            length: number of tokens L.
            group_size: tokens per group G (the complexity knob); must divide ``length``.
            modulus: q, the modulus each group sum must vanish under.
            vocab_size: K, tokens are ``0..K-1``; ``K ** G`` may be at most ``2 ** 62``.
        """
        require_positive("data.rule.modulus", modulus)
        require_positive("data.rule.vocab_size", vocab_size)
        super().__init__(length=length, group_size=group_size, vocab_size=vocab_size)
        if vocab_size**group_size > MAX_GROUP_ASSIGNMENTS:
            raise ConfigError(
                f"data.rule.vocab_size={vocab_size} with data.rule.group_size={group_size} gives "
                f"{vocab_size}**{group_size} assignments per group; the exact sampler allows at most 2**62: "
                "lower vocab_size or group_size"
            )
        self.modulus = modulus
        self._completions = _count_completions(group_size, modulus, vocab_size)

    @property
    def group_valid_count(self) -> int:
        """Number of valid assignments of one group."""
        return self._completions[0][0]

    @property
    def valid_count(self) -> int:
        return self.group_valid_count**self.num_groups

    def group_ok(self, sequences: torch.Tensor) -> torch.Tensor:
        """Whether each group is in the vocabulary and sums to 0 mod ``modulus``: ``BoolTensor[M, num_groups]``."""
        self.check_sequences(sequences)
        groups = sequences.reshape(-1, self.num_groups, self.group_size)
        in_vocab = ((groups >= 0) & (groups < self.vocab_size)).all(dim=-1)
        return in_vocab & (groups.sum(dim=-1) % self.modulus == 0)

    def is_valid(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.group_ok(sequences).all(dim=-1)

    def part_validity(self, sequences: torch.Tensor) -> torch.Tensor:
        """Fraction of groups whose sum is 0 mod ``modulus``."""
        return self.group_ok(sequences).float().mean(dim=-1)

    def sample(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Exactly uniform: each group is the valid assignment of a uniform random rank (unranking).

        Token ``j`` of a group is chosen by walking the completion counts: with running
        sum ``s``, token ``v`` owns the next ``completions[j + 1][(s + v) % q]`` ranks.
        """
        q, vocab = self.modulus, self.vocab_size
        ranks = torch.randint(0, self.group_valid_count, (num_samples, self.num_groups), generator=generator)
        running = torch.zeros_like(ranks)
        tokens = torch.empty(num_samples, self.num_groups, self.group_size, dtype=torch.long)
        for j in range(self.group_size):
            # owned[s, v]: completions of the rest of the group after token v at running sum s.
            owned = torch.tensor(
                [[self._completions[j + 1][(s + v) % q] for v in range(vocab)] for s in range(q)], dtype=torch.long
            )
            ends = owned.cumsum(dim=1)[running]  # [n, groups, vocab]: rank bounds of each token choice
            token = (ends <= ranks.unsqueeze(-1)).sum(dim=-1)
            starts = ends.gather(-1, token.unsqueeze(-1)).squeeze(-1) - owned[running, token]
            ranks -= starts
            running = (running + token) % q
            tokens[:, :, j] = token
        return tokens.reshape(num_samples, self.length)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "group_size": self.group_size, "modulus": self.modulus}


def _count_completions(group_size: int, modulus: int, vocab_size: int) -> list[list[int]]:
    """``completions[j][s]``: ways to fill tokens ``j..G-1`` of a group so that a running sum ``s`` ends at 0 mod q.

    Exact Python integers; ``completions[0][0]`` is the number of valid assignments of a group.
    """
    completions = [[0] * modulus for _ in range(group_size + 1)]
    completions[group_size][0] = 1
    for j in range(group_size - 1, -1, -1):
        for s in range(modulus):
            completions[j][s] = sum(completions[j + 1][(s + v) % modulus] for v in range(vocab_size))
    return completions
