"""Mirror symmetry (docs/method.md, "Rules").

The ``rows * cols`` bits are drawn as a ``rows x cols`` image in raster order; a
sequence is valid when the image equals its left-right mirror image, that is when
every row is a palindrome. The complexity knob is the width ``cols``: each row ties
``cols // 2`` pairs of bits, the farthest ``cols - 1`` positions apart. There are
``2 ** (rows * ceil(cols / 2))`` valid images.
"""

from __future__ import annotations

import torch

from lightning_clocks.errors import require_positive
from lightning_clocks.rules.base import Rule


class MirrorSymmetry(Rule):
    """Every row of a ``rows x cols`` bit image is a palindrome."""

    name = "mirror_symmetry"

    def __init__(self, rows: int = 6, cols: int = 6) -> None:
        """
        Args:
            rows: image height R.
            cols: image width C (the complexity knob); the sequence length is ``rows * cols``.
        """
        require_positive("data.rule.rows", rows)
        require_positive("data.rule.cols", cols)
        super().__init__(length=rows * cols, vocab_size=2)
        self.rows = rows
        self.cols = cols

    @property
    def complexity(self) -> float:
        return float(self.cols)

    @property
    def valid_count(self) -> int:
        return 2 ** (self.rows * ((self.cols + 1) // 2))

    def row_ok(self, sequences: torch.Tensor) -> torch.Tensor:
        """Whether each row is a binary palindrome: ``BoolTensor[M, rows]``."""
        self.check_sequences(sequences)
        image = sequences.reshape(-1, self.rows, self.cols)
        binary = ((image == 0) | (image == 1)).all(dim=2)
        return binary & (image == image.flip(dims=[2])).all(dim=2)

    def is_valid(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.row_ok(sequences).all(dim=-1)

    def part_validity(self, sequences: torch.Tensor) -> torch.Tensor:
        """Fraction of rows that are palindromes."""
        return self.row_ok(sequences).float().mean(dim=-1)

    def sample(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Exactly uniform: the left ``ceil(cols / 2)`` bits of each row are fair coins, mirrored to the right."""
        half = (self.cols + 1) // 2
        left = torch.randint(0, 2, (num_samples, self.rows, half), generator=generator)
        image = torch.cat([left, left[:, :, : self.cols // 2].flip(dims=[2])], dim=2)
        return image.reshape(num_samples, self.length)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "rows": self.rows, "cols": self.cols}
