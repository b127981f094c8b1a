"""Row-and-column parity on a grid (docs/method.md, "Rules").

The ``rows * cols`` bits are drawn as a ``rows x cols`` image in raster order; a
sequence is valid when every row and every column has even parity. Unlike group
parity the constraints overlap: every bit sits in one row and one column, so the
``rows + cols`` lines are not independent (one of them is implied by the others).
The complexity knob is the number of cells ``rows * cols``, the size of the
grid the overlapping lines tie together; each row line spans ``cols`` bits and each
column line ``rows`` bits. There are ``2 ** ((rows - 1) * (cols - 1))`` valid grids.
"""

from __future__ import annotations

import torch

from lightning_clocks.errors import require_positive
from lightning_clocks.rules.base import Rule


class GridParity(Rule):
    """Even parity in every row and every column of a ``rows x cols`` bit grid."""

    name = "grid_parity"

    def __init__(self, rows: int = 6, cols: int = 6) -> None:
        """
        Args:
            rows: grid height R.
            cols: grid width C; the sequence length is ``rows * cols``.
        """
        require_positive("data.rule.rows", rows)
        require_positive("data.rule.cols", cols)
        super().__init__(length=rows * cols, vocab_size=2)
        self.rows = rows
        self.cols = cols

    @property
    def complexity(self) -> float:
        return float(self.rows * self.cols)

    @property
    def valid_count(self) -> int:
        return 2 ** ((self.rows - 1) * (self.cols - 1))

    def line_ok(self, sequences: torch.Tensor) -> torch.Tensor:
        """Whether each line is binary with even parity, rows then columns: ``BoolTensor[M, rows + cols]``."""
        self.check_sequences(sequences)
        grid = sequences.reshape(-1, self.rows, self.cols)
        binary = (grid == 0) | (grid == 1)
        rows_ok = binary.all(dim=2) & (grid.sum(dim=2) % 2 == 0)
        cols_ok = binary.all(dim=1) & (grid.sum(dim=1) % 2 == 0)
        return torch.cat([rows_ok, cols_ok], dim=1)

    def is_valid(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.line_ok(sequences).all(dim=-1)

    def part_validity(self, sequences: torch.Tensor) -> torch.Tensor:
        """Fraction of the ``rows + cols`` lines with even parity."""
        return self.line_ok(sequences).float().mean(dim=-1)

    def sample(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Exactly uniform: the top-left ``(rows-1) x (cols-1)`` bits are fair coins and fix the rest.

        The last column completes each of the first ``rows - 1`` rows, then the last row
        completes every column; its own parity is then even too. This map from free bits
        to valid grids is a bijection.
        """
        grid = torch.zeros(num_samples, self.rows, self.cols, dtype=torch.long)
        free = torch.randint(0, 2, (num_samples, self.rows - 1, self.cols - 1), generator=generator)
        grid[:, :-1, :-1] = free
        grid[:, :-1, -1] = free.sum(dim=2) % 2
        grid[:, -1, :] = grid[:, :-1, :].sum(dim=1) % 2
        return grid.reshape(num_samples, self.length)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "rows": self.rows, "cols": self.cols}
