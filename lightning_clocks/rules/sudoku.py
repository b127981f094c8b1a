"""Sudoku grids (docs/method.md, "Rules").

A sequence is a completed ``size x size`` Sudoku grid in raster order over the
symbols ``0..size-1``: every row, column and box is a permutation. Boxes are 2x2
for size 4, 2x3 (2 rows x 3 columns) for size 6 and 3x3 for size 9. ``size`` is
the complexity knob.

Sampling (``sampler``):

- ``exact`` (sizes 4 and 6): all completions of the first row ``0, 1, ..., size-1``
  are enumerated once per process (12 for size 4, 39,168 for size 6, 0.2 s); a
  sample is a uniform completion with a uniform symbol relabelling applied. Every
  valid grid arises from exactly one (completion, relabelling) pair, so this is
  exactly uniform.
- ``backtracking`` (any size): randomized backtracking fills the cells in raster
  order, trying the symbols of each cell in a random order, then applies a uniform
  random element of the grid's symmetry group (symbol relabelling, permutations of
  the rows inside each band and of the bands, the same for columns and stacks, and
  a transposition when boxes are square). The symmetries make the output uniform
  inside each class of grids they connect, but **not across classes**: it is not
  exactly uniform. On 4x4 (derived by hand and checked in the tests) the two
  classes, of 96 and 192 grids, get probability 1/4 and 3/4 instead of 1/3 and 2/3,
  so a grid has probability 1/384 or 1/256 instead of 1/288 (a factor 1.5 between
  the classes). For 6x6 and 9x9 the class bias is not known; no exact uniform
  sampler of 9x9 grids is practical here.
- ``auto`` (default): ``exact`` for sizes 4 and 6, ``backtracking`` for size 9.
"""

from __future__ import annotations

from typing import Literal

import torch

from lightning_clocks.errors import ConfigError
from lightning_clocks.rules._random import random_permutations
from lightning_clocks.rules.base import Rule

#: Box shape (rows, columns) for each supported grid size.
BOX_SHAPES: dict[int, tuple[int, int]] = {4: (2, 2), 6: (2, 3), 9: (3, 3)}

#: Number of valid grids per size (9x9: Felgenhauer and Jarvis, 2005).
SUDOKU_COUNTS: dict[int, int] = {4: 288, 6: 28_200_960, 9: 6_670_903_752_021_072_936_960}

#: Sizes whose first-row completions are few enough to enumerate for the exact sampler.
EXACT_SIZES = (4, 6)

_COMPLETIONS: dict[int, torch.Tensor] = {}


class Sudoku(Rule):
    """Completed ``size x size`` Sudoku grids, symbols ``0..size-1``."""

    name = "sudoku"

    def __init__(self, size: int = 9, sampler: Literal["auto", "exact", "backtracking"] = "auto") -> None:
        """
        Args:
            size: grid side n (the complexity knob), one of 4, 6, 9; the sequence length is ``n * n``.
            sampler: ``exact`` (sizes 4 and 6 only), ``backtracking`` (near-uniform), or ``auto``.
        """
        if not isinstance(size, int) or isinstance(size, bool) or size not in BOX_SHAPES:
            raise ConfigError(f"data.rule.size={size!r} is invalid for sudoku; allowed sizes: {sorted(BOX_SHAPES)}")
        if sampler not in ("auto", "exact", "backtracking"):
            raise ConfigError(f"data.rule.sampler={sampler!r} is invalid; allowed: 'auto', 'exact', 'backtracking'")
        if sampler == "exact" and size not in EXACT_SIZES:
            raise ConfigError(
                f"data.rule.sampler='exact' is invalid for data.rule.size={size}: exact sampling is available "
                f"for sizes {list(EXACT_SIZES)}; use 'backtracking' or 'auto'"
            )
        super().__init__(length=size * size, vocab_size=size)
        self.size = size
        self.box_rows, self.box_cols = BOX_SHAPES[size]
        self.sampler = sampler
        self.parts = _part_positions(size, self.box_rows, self.box_cols)

    @property
    def complexity(self) -> float:
        return float(self.size)

    @property
    def valid_count(self) -> int:
        return SUDOKU_COUNTS[self.size]

    @property
    def uses_exact_sampler(self) -> bool:
        """Whether :meth:`sample` is exactly uniform (``exact``, or ``auto`` on an enumerable size)."""
        return self.sampler == "exact" or (self.sampler == "auto" and self.size in EXACT_SIZES)

    def part_ok(self, sequences: torch.Tensor) -> torch.Tensor:
        """Whether each row, column and box is a permutation (in that order): ``BoolTensor[M, 3 * size]``."""
        self.check_sequences(sequences)
        parts = sequences[:, self.parts.to(sequences.device)].sort(dim=-1).values
        return (parts == torch.arange(self.size, device=sequences.device)).all(dim=-1)

    def is_valid(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.part_ok(sequences).all(dim=-1)

    def part_validity(self, sequences: torch.Tensor) -> torch.Tensor:
        """Fraction of the ``3 * size`` rows, columns and boxes that are permutations."""
        return self.part_ok(sequences).float().mean(dim=-1)

    def sample(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Valid grids; exactly uniform with the exact sampler, near-uniform with backtracking (module docstring)."""
        n = self.size
        if self.uses_exact_sampler:
            table = _first_row_completions(n, self.box_rows, self.box_cols)
            grids = table[torch.randint(0, len(table), (num_samples,), generator=generator)].long()
            relabel = random_permutations(num_samples, n, generator)
            return relabel.gather(1, grids)
        orders = random_permutations(num_samples * n * n, n, generator).reshape(num_samples, n * n, n).tolist()
        grids = torch.tensor([self._backtrack(cell_orders) for cell_orders in orders], dtype=torch.long)
        return self._random_symmetry(grids.reshape(num_samples, n * n), generator)

    def _backtrack(self, cell_orders: list[list[int]]) -> list[int]:
        """One grid by depth-first search in raster order, trying cell ``i``'s symbols in ``cell_orders[i]``."""
        n, box_rows, box_cols = self.size, self.box_rows, self.box_cols
        row_used, col_used, box_used = [0] * n, [0] * n, [0] * n
        grid, next_try = [0] * (n * n), [0] * (n * n)
        cell = 0
        while cell < n * n:
            r, c = divmod(cell, n)
            b = (r // box_rows) * (n // box_cols) + c // box_cols
            used = row_used[r] | col_used[c] | box_used[b]
            order, k = cell_orders[cell], next_try[cell]
            while k < n and used >> order[k] & 1:
                k += 1
            if k < n:  # place the next untried legal symbol and move on
                bit = 1 << order[k]
                grid[cell], next_try[cell] = order[k], k + 1
                row_used[r] |= bit
                col_used[c] |= bit
                box_used[b] |= bit
                cell += 1
            else:  # no symbol left here: reset this cell and take back the previous one
                next_try[cell] = 0
                cell -= 1
                r, c = divmod(cell, n)
                b = (r // box_rows) * (n // box_cols) + c // box_cols
                bit = ~(1 << grid[cell])
                row_used[r] &= bit
                col_used[c] &= bit
                box_used[b] &= bit
        return grid

    def _random_symmetry(self, grids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Apply a uniform random validity-preserving symmetry to each grid of ``LongTensor[M, size * size]``."""
        num, n = grids.shape[0], self.size
        row_order = _band_preserving_permutations(num, n // self.box_rows, self.box_rows, generator)
        col_order = _band_preserving_permutations(num, n // self.box_cols, self.box_cols, generator)
        image = grids.reshape(num, n, n)
        image = image.gather(1, row_order.unsqueeze(-1).expand(num, n, n))
        image = image.gather(2, col_order.unsqueeze(1).expand(num, n, n))
        if self.box_rows == self.box_cols:
            flip = torch.randint(0, 2, (num,), generator=generator).bool()
            image = torch.where(flip[:, None, None], image.transpose(1, 2), image)
        relabel = random_permutations(num, n, generator)
        return relabel.gather(1, image.reshape(num, n * n))

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "size": self.size,
            "box": [self.box_rows, self.box_cols],
            "sampler": "exact" if self.uses_exact_sampler else "backtracking",
        }


def _part_positions(size: int, box_rows: int, box_cols: int) -> torch.Tensor:
    """Positions of the cells of every row, column and box: ``LongTensor[3 * size, size]``."""
    image = torch.arange(size * size).reshape(size, size)
    boxes = image.reshape(size // box_rows, box_rows, size // box_cols, box_cols).permute(0, 2, 1, 3)
    return torch.cat([image, image.T, boxes.reshape(size, size)])


def _band_preserving_permutations(count: int, bands: int, band_size: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform permutations of ``bands * band_size`` lines that keep each band of lines together."""
    band_order = random_permutations(count, bands, generator)
    within = random_permutations(count * bands, band_size, generator).reshape(count, bands, band_size)
    return (band_order.unsqueeze(-1) * band_size + within).reshape(count, bands * band_size)


def _first_row_completions(size: int, box_rows: int, box_cols: int) -> torch.Tensor:
    """Every valid grid whose first row is ``0..size-1``: ``ByteTensor[count, size * size]``, cached per size."""
    if size in _COMPLETIONS:
        return _COMPLETIONS[size]
    full = (1 << size) - 1
    row_used, col_used, box_used = [0] * size, [0] * size, [0] * size
    grid = [0] * (size * size)
    found: list[list[int]] = []

    def place(cell: int, symbol: int) -> None:
        r, c = divmod(cell, size)
        b = (r // box_rows) * (size // box_cols) + c // box_cols
        bit = 1 << symbol
        grid[cell] = symbol
        row_used[r] ^= bit
        col_used[c] ^= bit
        box_used[b] ^= bit

    def fill(cell: int) -> None:
        if cell == size * size:
            found.append(grid.copy())
            return
        r, c = divmod(cell, size)
        b = (r // box_rows) * (size // box_cols) + c // box_cols
        free = full & ~(row_used[r] | col_used[c] | box_used[b])
        while free:
            bit = free & -free
            free ^= bit
            place(cell, bit.bit_length() - 1)
            fill(cell + 1)
            place(cell, bit.bit_length() - 1)  # xor again: take it back

    for cell in range(size):
        place(cell, cell)
    fill(size)
    _COMPLETIONS[size] = torch.tensor(found, dtype=torch.uint8)
    return _COMPLETIONS[size]
