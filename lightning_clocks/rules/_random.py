"""Exactly uniform random permutations drawn from a ``torch.Generator``, shared by the puzzle rules."""

from __future__ import annotations

import torch


def random_permutations(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` independent uniform permutations of ``range(size)``: ``LongTensor[count, size]``.

    A vectorised Fisher-Yates shuffle, so it is exactly uniform given uniform integer draws
    (unlike ``argsort`` of random floats, which is biased when two keys tie).
    """
    perms = torch.arange(size).repeat(count, 1)
    rows = torch.arange(count)
    for i in range(size - 1, 0, -1):
        j = torch.randint(0, i + 1, (count,), generator=generator)
        picked = perms[rows, j]
        perms[rows, j] = perms[:, i]
        perms[:, i] = picked
    return perms
