"""Latin squares (docs/method.md, "Rules").

A sequence is an ``size x size`` Latin square in raster order over the symbols
``0..size-1``: every row and every column is a permutation. ``size`` is the
complexity knob; the valid counts are OEIS A002860.

Sampling uses the Jacobson-Matthews Markov chain (Jacobson and Matthews, 1996,
"Generating uniformly distributed random Latin squares"). A square is its incidence
cube ``f[r, c, s] = 1`` when cell ``(r, c)`` holds ``s``; the chain also visits
"improper" cubes, which have one entry ``-1`` and keep every line sum at 1. A move
picks a cell ``(r, c, s)`` (a uniform 0-entry of a proper cube, or the -1 entry of an
improper one), the lines through it give ``r'``, ``c'``, ``s'`` (the 1-entries; an
improper cube has two on each line and one is picked at random), and the eight
corners of the box ``{r, r'} x {c, c'} x {s, s'}`` change by +1 or -1.

Guarantee: the chain is irreducible, and its stationary distribution restricted to
proper cubes is uniform (improper cubes get another weight). Watching the chain only
when it is proper gives the induced chain on proper squares, which is reversible with
the uniform distribution as its stationary distribution. Every chain here starts from
the cyclic square and stops at its ``mixing_steps``-th visit to a proper cube (one or
more moves each), so the output is uniform in the limit of many steps and
approximate for finite ``mixing_steps``. Counting visits, not moves, matters: taking
the first proper cube after a fixed number of moves weights each square by its mean
return time, and on 4x4 squares (measured) gave the 144 squares of the Klein class a
share of 0.08 instead of 0.25. Finally a uniform random row, column and symbol
permutation is applied; it maps the uniform distribution to itself and makes the
output exactly uniform within each isotopy class, so only the weights of the classes
rest on the chain's mixing. Measured (10,000 to 20,000 chains): the Klein share at
4x4 is right from 4 steps on, and the mean number of intercalates at 5x5 and 6x6
matches the exact value (from all reduced squares) from ``size ** 2`` steps on; the
default ``size ** 3`` leaves a margin. The tests run chi-square tests over all 12
squares of order 3 and all 576 of order 4.

Cost: the chains run as batched tensor operations, so a move costs about the same for
one chain as for ~2,000. With the default steps, 2,000 squares took ~0.4 s at 4x4,
~1 s at 5x5 and ~14 s at 9x9 (about 13 moves per proper visit) on two busy cores.
"""

from __future__ import annotations

import torch

from lightning_clocks.errors import ConfigError, require_positive
from lightning_clocks.rules._random import random_permutations
from lightning_clocks.rules.base import Rule

#: Number of Latin squares of order n (OEIS A002860), n = 1..9.
LATIN_SQUARE_COUNTS: dict[int, int] = {
    1: 1,
    2: 2,
    3: 12,
    4: 576,
    5: 161_280,
    6: 812_851_200,
    7: 61_479_419_904_000,
    8: 108_776_032_459_082_956_800,
    9: 5_524_751_496_156_892_842_531_225_600,
}

#: Supported orders.
SIZES = range(2, 10)

#: Chains run in batches of ``PARALLEL_GRAIN // (2 * n)``, so that every per-move tensor (at most ``[batch, 2n]``)
#: stays below torch's parallel grain size: on busy cores its OpenMP path made small ops 10-100x slower.
PARALLEL_GRAIN = 32_768

#: Moves between two removals of finished chains from the batch.
MOVES_PER_ROUND = 16


class LatinSquare(Rule):
    """``size x size`` Latin squares, symbols ``0..size-1``."""

    name = "latin_square"

    def __init__(self, size: int = 5, mixing_steps: int | None = None) -> None:
        """
        Args:
            size: order n of the square (the complexity knob), 2 to 9; the sequence length is ``n * n``.
            mixing_steps: visits to a proper square after which each Jacobson-Matthews chain stops
                (each visit is one or more moves); ``None`` means ``n ** 3``.
        """
        if not isinstance(size, int) or isinstance(size, bool) or size not in SIZES:
            raise ConfigError(
                f"data.rule.size={size!r} is invalid for latin_square; allowed sizes: {SIZES.start}..{SIZES.stop - 1}"
            )
        if mixing_steps is not None:
            require_positive("data.rule.mixing_steps", mixing_steps)
        super().__init__(length=size * size, vocab_size=size)
        self.size = size
        self.mixing_steps = size**3 if mixing_steps is None else mixing_steps

    @property
    def complexity(self) -> float:
        return float(self.size)

    @property
    def valid_count(self) -> int:
        return LATIN_SQUARE_COUNTS[self.size]

    def line_ok(self, sequences: torch.Tensor) -> torch.Tensor:
        """Whether each row, then each column, is a permutation: ``BoolTensor[M, 2 * size]``."""
        self.check_sequences(sequences)
        n = self.size
        square = sequences.reshape(-1, n, n)
        lines = torch.cat([square, square.transpose(1, 2)], dim=1).sort(dim=-1).values
        return (lines == torch.arange(n, device=sequences.device)).all(dim=-1)

    def is_valid(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.line_ok(sequences).all(dim=-1)

    def part_validity(self, sequences: torch.Tensor) -> torch.Tensor:
        """Fraction of the ``2 * size`` rows and columns that are permutations."""
        return self.line_ok(sequences).float().mean(dim=-1)

    def sample(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Near-uniform squares from independent Jacobson-Matthews chains (module docstring)."""
        batch = PARALLEL_GRAIN // (2 * self.size)
        batches = [
            jacobson_matthews(self.size, min(batch, num_samples - start), self.mixing_steps, generator)
            for start in range(0, num_samples, batch)
        ]
        squares = torch.cat(batches) if batches else torch.empty(0, self.size, self.size, dtype=torch.long)
        return _random_isotopy(squares, generator).reshape(num_samples, self.length)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "size": self.size, "mixing_steps": self.mixing_steps}


def jacobson_matthews(n: int, num_chains: int, proper_visits: int, generator: torch.Generator) -> torch.Tensor:
    """Run independent Jacobson-Matthews chains from the cyclic square; ``LongTensor[num_chains, n, n]``.

    Each chain stops at its ``proper_visits``-th visit to a proper cube. The chains run as
    one batch of flat incidence cubes ``int8[B, n**3]`` (index ``r*n*n + c*n + s``); finished
    chains freeze and leave the batch every ``MOVES_PER_ROUND`` moves.
    """
    nn = n * n
    line = torch.arange(n)
    cyclic = (line[:, None] + line[None, :]) % n
    cubes = torch.nn.functional.one_hot(cyclic, n).to(torch.int8).reshape(1, n**3).repeat(num_chains, 1)
    minus_cell = torch.zeros(num_chains, dtype=torch.long)  # flat index of the -1 entry of an improper cube
    improper = torch.zeros(num_chains, dtype=torch.bool)
    visits = torch.zeros(num_chains, dtype=torch.long)
    chain_ids = torch.arange(num_chains)
    finished = torch.empty(num_chains, n**3, dtype=torch.int8)
    # The box {r, r'} x {c, c'} x {s, s'} as (primed?) bits; corners with an even number of primes gain 1.
    primes = torch.tensor([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)])
    signs = torch.where(primes.sum(dim=1) % 2 == 0, 1, -1).to(torch.int8)
    while len(chain_ids):
        count = len(chain_ids)
        # A proper cube's uniform 0-entry: a uniform cell r*n + c and a nonzero shift of its own symbol.
        cells = torch.randint(0, nn, (MOVES_PER_ROUND, count), generator=generator)
        shifts = torch.randint(1, n, (MOVES_PER_ROUND, count), generator=generator)
        # An improper cube has two 1-entries on each line through its -1 entry: take the first or the last.
        lasts = torch.randint(0, 2, (MOVES_PER_ROUND, count, 3), generator=generator)
        for move in range(MOVES_PER_ROUND):
            active = visits < proper_visits
            cell = torch.where(improper, minus_cell // n, cells[move])
            last = lasts[move] * improper[:, None]
            s2 = _pick_one(cubes.gather(1, cell[:, None] * n + line), last[:, 2])  # a proper cube: the own symbol
            s = torch.where(improper, minus_cell % n, (s2 + shifts[move]) % n)
            r, c = cell // n, cell % n
            row_line = line * nn + (c * n + s)[:, None]
            col_line = (r * nn + s)[:, None] + line * n
            r2, c2 = _pick_one(cubes.gather(1, torch.cat([row_line, col_line], dim=1)).view(count, 2, n), last[:, :2]).T
            rows = torch.stack([r, r2], dim=1) * nn
            cols = torch.stack([c, c2], dim=1) * n
            syms = torch.stack([s, s2], dim=1)
            corners = (rows[:, :, None, None] + cols[:, None, :, None] + syms[:, None, None, :]).view(count, 8)
            # The far corner (r', c', s') loses 1: it becomes the -1 entry of an improper cube if it was 0.
            became_improper = cubes.gather(1, corners[:, 7:]).squeeze(1) == 0
            cubes.scatter_add_(1, corners, signs * active[:, None].to(torch.int8))
            improper = torch.where(active, became_improper, improper)
            minus_cell = torch.where(active, corners[:, 7], minus_cell)
            visits += active & ~improper
        done = visits >= proper_visits
        finished[chain_ids[done]] = cubes[done]
        keep = ~done
        chain_ids, cubes, visits = chain_ids[keep], cubes[keep], visits[keep]
        improper, minus_cell = improper[keep], minus_cell[keep]
    return finished.reshape(num_chains, n, n, n).argmax(dim=-1)


def _pick_one(lines: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Index of the first (``last == 0``) or the last (``last == 1``) entry equal to 1 along the last dim of ``lines``.

    ``lines`` is ``[..., n]`` and ``last`` is ``[...]``; the result is ``LongTensor[...]`` (unbound by callers
    that pick on several lines at once).
    """
    weights = 1 + last.unsqueeze(-1) * torch.arange(lines.shape[-1])
    return ((lines == 1) * weights).argmax(dim=-1)


def _random_isotopy(squares: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Permute the rows, the columns and the symbols of each square in ``LongTensor[M, n, n]`` uniformly at random."""
    num, n = squares.shape[0], squares.shape[1]
    rows = random_permutations(num, n, generator)
    cols = random_permutations(num, n, generator)
    symbols = random_permutations(num, n, generator)
    squares = squares.gather(1, rows.unsqueeze(-1).expand(num, n, n))
    squares = squares.gather(2, cols.unsqueeze(1).expand(num, n, n))
    return symbols.gather(1, squares.reshape(num, n * n)).reshape(num, n, n)
