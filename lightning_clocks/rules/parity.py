"""Group parity (docs/method.md, "Rules").

The ``length`` bits are split into groups of ``group_size``; a sequence is valid
when every group has even parity. ``group_size`` is the complexity knob. Groups
are contiguous raster chunks by default; ``layout="blocks"`` draws the bits as
a square image and uses rectangular blocks of ``group_size`` pixels instead
(as square as ``group_size`` allows: 2x2 for 4, 3x3 for 9, 2x3 for 6).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from lightning_clocks.errors import ConfigError
from lightning_clocks.rules.base import GroupedRule


class GroupParity(GroupedRule):
    """Even parity inside every group of ``group_size`` bits."""

    name = "group_parity"

    def __init__(
        self, length: int = 36, group_size: int = 2, layout: Literal["contiguous", "blocks"] = "contiguous"
    ) -> None:
        """
        Args:
            length: number of bits L (36 draws a 6x6 image).
            group_size: bits per parity group G (the complexity knob); must divide ``length``.
            layout: ``contiguous`` raster chunks, or ``blocks`` of a square image.
        """
        super().__init__(length=length, group_size=group_size, vocab_size=2)
        self.layout = layout
        self.groups = _group_positions(length, group_size, layout)

    @property
    def valid_count(self) -> int:
        return 2 ** (self.length - self.num_groups)

    def group_parities(self, sequences: torch.Tensor) -> torch.Tensor:
        """Parity (0 even, 1 odd) of every group: ``LongTensor[M, num_groups]``."""
        self.check_sequences(sequences)
        groups = self.groups.to(sequences.device)
        return sequences[:, groups].sum(dim=-1) % 2

    def is_valid(self, sequences: torch.Tensor) -> torch.Tensor:
        return (self.group_parities(sequences) == 0).all(dim=-1)

    def part_validity(self, sequences: torch.Tensor) -> torch.Tensor:
        return (self.group_parities(sequences) == 0).float().mean(dim=-1)

    def sample(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Exactly uniform: free bits are fair coins, the last bit of each group fixes its parity."""
        bits = torch.randint(0, 2, (num_samples, self.length), generator=generator)
        free, last = self.groups[:, :-1], self.groups[:, -1]
        bits[:, last] = bits[:, free].sum(dim=-1) % 2
        return bits

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "group_size": self.group_size, "layout": self.layout}


def _group_positions(length: int, group_size: int, layout: str) -> torch.Tensor:
    """Positions of the bits in each group, ``LongTensor[length // group_size, group_size]``."""
    if layout == "contiguous":
        return torch.arange(length).reshape(-1, group_size)
    if layout != "blocks":
        raise ConfigError(f"data.rule.layout={layout!r} is invalid; allowed: 'contiguous', 'blocks'")
    side = math.isqrt(length)
    block_height = max(d for d in range(1, math.isqrt(group_size) + 1) if group_size % d == 0)
    block_width = group_size // block_height
    if side * side != length or side % block_height or side % block_width:
        raise ConfigError(
            f"data.rule.layout='blocks' needs a square image whose sides the {block_height}x{block_width} blocks tile; "
            f"length={length}, group_size={group_size} do not (use layout='contiguous')"
        )
    image = torch.arange(length).reshape(side, side)
    blocks = image.reshape(side // block_height, block_height, side // block_width, block_width)
    return blocks.permute(0, 2, 1, 3).reshape(-1, group_size)
