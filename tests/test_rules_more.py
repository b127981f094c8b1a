"""The rules beyond group parity: exact counts and validity by enumeration, samplers, part validity, config errors.

Every validity check is compared with a plain-Python checker written here, never with the rule's own code.
Uniformity is a chi-square test over every valid sequence of a small case. scipy is not installed, so the
critical value comes from the Wilson-Hilferty approximation, which treats ``(X / dof) ** (1/3)`` as normal
with mean ``1 - 2 / (9 dof)`` and variance ``2 / (9 dof)`` (from the chi-square's mean and variance); at
p = 1e-3 it is within 1% of the exact quantile for the degrees of freedom used here. Seeds are fixed.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence

import jsonargparse
import pytest
import torch

from lightning_clocks.errors import ConfigError
from lightning_clocks.rules import (
    RULES,
    ExactWeight,
    GridParity,
    GroupParity,
    GroupSumMod,
    LatinSquare,
    MirrorSymmetry,
    Rule,
    SparseParity,
    Sudoku,
    make_rule,
)
from lightning_clocks.rules.sudoku import _first_row_completions

Z_1E3 = 3.0902  # standard normal quantile for an upper tail of 1e-3


def chi_square_bound(dof: int, z: float = Z_1E3) -> float:
    """Wilson-Hilferty upper quantile of a chi-square with ``dof`` degrees of freedom (p = 1e-3 by default)."""
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3


def chi_square(samples: torch.Tensor, valid: Sequence[tuple[int, ...]]) -> float:
    """Pearson statistic of ``samples`` against the uniform distribution on ``valid`` (all samples must be in it)."""
    counts = Counter(map(tuple, samples.tolist()))
    assert set(counts) <= set(valid), "a sample is not a valid sequence"
    expected = len(samples) / len(valid)
    return sum((counts.get(sequence, 0) - expected) ** 2 / expected for sequence in valid)


def all_sequences(vocab_size: int, length: int) -> list[tuple[int, ...]]:
    return list(itertools.product(range(vocab_size), repeat=length))


@functools.cache
def permutation_row_grids(n: int) -> list[tuple[int, ...]]:
    """Every n x n grid whose rows are permutations ((n!)^n of them), flattened."""
    permutations = list(itertools.permutations(range(n)))
    return [sum(rows, ()) for rows in itertools.product(permutations, repeat=n)]


def check_against_plain(rule: Rule, sequences: list[tuple[int, ...]], plain: Callable[[tuple[int, ...]], bool]) -> int:
    """Assert ``rule.is_valid`` equals ``plain`` on every sequence; return the number of valid ones."""
    valid = rule.is_valid(torch.tensor(sequences)).tolist()
    expected = [plain(sequence) for sequence in sequences]
    assert valid == expected
    return sum(expected)


# Plain-Python checkers (independent of the rules' code).


def plain_sparse(sequence: Sequence[int], positions: Sequence[int]) -> bool:
    return sum(sequence[p] for p in positions) % 2 == 0


def plain_group_sum(sequence: Sequence[int], group_size: int, modulus: int) -> bool:
    return all(sum(sequence[i : i + group_size]) % modulus == 0 for i in range(0, len(sequence), group_size))


def plain_grid(sequence: Sequence[int], rows: int, cols: int) -> bool:
    grid = [sequence[r * cols : (r + 1) * cols] for r in range(rows)]
    return all(sum(row) % 2 == 0 for row in grid) and all(sum(column) % 2 == 0 for column in zip(*grid, strict=True))


def plain_mirror(sequence: Sequence[int], rows: int, cols: int) -> bool:
    grid = [list(sequence[r * cols : (r + 1) * cols]) for r in range(rows)]
    return all(row == row[::-1] for row in grid)


def plain_weight(sequence: Sequence[int], group_size: int, weight: int) -> bool:
    groups = [sequence[i : i + group_size] for i in range(0, len(sequence), group_size)]
    return all(set(group) <= {0, 1} and sum(group) == weight for group in groups)


def plain_latin(sequence: Sequence[int], n: int) -> bool:
    grid = [sequence[r * n : (r + 1) * n] for r in range(n)]
    symbols = set(range(n))
    return all(set(row) == symbols for row in grid) and all(
        set(column) == symbols for column in zip(*grid, strict=True)
    )


def plain_sudoku(sequence: Sequence[int], n: int, box_rows: int, box_cols: int) -> bool:
    if not plain_latin(sequence, n):
        return False
    for top in range(0, n, box_rows):
        for left in range(0, n, box_cols):
            box = {sequence[(top + i) * n + left + j] for i in range(box_rows) for j in range(box_cols)}
            if box != set(range(n)):
                return False
    return True


def intercalates(sequence: Sequence[int], n: int) -> int:
    """Number of 2x2 Latin subsquares (a class invariant of 4x4 Sudoku grids and Latin squares)."""
    count = 0
    for r1, r2 in itertools.combinations(range(n), 2):
        for c1, c2 in itertools.combinations(range(n), 2):
            count += sequence[r1 * n + c1] == sequence[r2 * n + c2] and sequence[r1 * n + c2] == sequence[r2 * n + c1]
    return count


# Exact counts and validity against enumeration.


@pytest.mark.parametrize(("length", "k", "seed"), [(8, 1, 0), (10, 3, 1), (12, 4, 0), (12, 12, 2)])
def test_sparse_parity_enumeration(length: int, k: int, seed: int) -> None:
    rule = SparseParity(length, k, seed)
    positions = torch.randperm(length, generator=torch.Generator().manual_seed(seed))[:k].tolist()
    assert sorted(positions) == rule.positions.tolist()
    count = check_against_plain(rule, all_sequences(2, length), lambda s: plain_sparse(s, positions))
    assert count == rule.valid_count == 2 ** (length - 1)


@pytest.mark.parametrize(
    ("length", "group_size", "modulus", "vocab_size"),
    [(6, 3, 3, 2), (6, 3, 2, 3), (8, 4, 3, 2), (6, 2, 4, 4), (12, 6, 5, 2), (9, 3, 3, 3), (10, 5, 7, 3), (4, 4, 1, 2)],
)
def test_group_sum_mod_enumeration(length: int, group_size: int, modulus: int, vocab_size: int) -> None:
    rule = GroupSumMod(length, group_size, modulus, vocab_size)
    sequences = all_sequences(vocab_size, length)
    count = check_against_plain(rule, sequences, lambda s: plain_group_sum(s, group_size, modulus))
    assert count == rule.valid_count


@pytest.mark.parametrize(("rows", "cols"), [(1, 4), (2, 2), (3, 3), (4, 4), (3, 5), (2, 6)])
def test_grid_parity_enumeration(rows: int, cols: int) -> None:
    rule = GridParity(rows, cols)
    count = check_against_plain(rule, all_sequences(2, rows * cols), lambda s: plain_grid(s, rows, cols))
    assert count == rule.valid_count == 2 ** ((rows - 1) * (cols - 1))


@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (3, 3), (4, 4), (2, 5), (2, 7), (1, 12)])
def test_mirror_symmetry_enumeration(rows: int, cols: int) -> None:
    rule = MirrorSymmetry(rows, cols)
    count = check_against_plain(rule, all_sequences(2, rows * cols), lambda s: plain_mirror(s, rows, cols))
    assert count == rule.valid_count == 2 ** (rows * math.ceil(cols / 2))


@pytest.mark.parametrize(
    ("length", "group_size", "weight"), [(8, 4, 2), (12, 4, 1), (12, 6, 3), (10, 5, 0), (12, 3, 3)]
)
def test_exact_weight_enumeration(length: int, group_size: int, weight: int) -> None:
    rule = ExactWeight(length, group_size, weight)
    count = check_against_plain(rule, all_sequences(2, length), lambda s: plain_weight(s, group_size, weight))
    assert count == rule.valid_count == math.comb(group_size, weight) ** (length // group_size)


@pytest.mark.parametrize("n", [2, 3])
def test_latin_square_enumeration_all_grids(n: int) -> None:
    rule = LatinSquare(n)
    count = check_against_plain(rule, all_sequences(n, n * n), lambda s: plain_latin(s, n))
    assert count == rule.valid_count


def test_latin_square_4_enumeration_of_permutation_rows() -> None:
    """4^16 grids are too many; every Latin square has permutation rows, so these 24^4 grids hold them all."""
    rule = LatinSquare(4)
    count = check_against_plain(rule, permutation_row_grids(4), lambda s: plain_latin(s, 4))
    assert count == rule.valid_count == 576


def test_sudoku_4_enumeration_of_permutation_rows() -> None:
    rule = Sudoku(4)
    count = check_against_plain(rule, permutation_row_grids(4), lambda s: plain_sudoku(s, 4, 2, 2))
    assert count == rule.valid_count == 288


@pytest.mark.parametrize(
    "rule", [Sudoku(4), Sudoku(6), Sudoku(9), LatinSquare(5), LatinSquare(9, mixing_steps=20)], ids=lambda r: r.name
)
def test_puzzles_on_random_grids(rule: Rule) -> None:
    """Random grids (mostly invalid) and samples with one cell changed agree with the plain checker."""
    generator = torch.Generator().manual_seed(3)
    n = rule.vocab_size
    random_grids = torch.randint(0, n, (300, rule.length), generator=generator)
    changed = rule.sample(100, generator)
    changed[torch.arange(100), torch.randint(0, rule.length, (100,), generator=generator)] += 1
    changed %= n
    near_valid = torch.cat([changed, rule.sample(100, generator)])
    for sequences in (random_grids, near_valid):
        if isinstance(rule, Sudoku):
            expected = [plain_sudoku(s, n, rule.box_rows, rule.box_cols) for s in sequences.tolist()]
        else:
            expected = [plain_latin(s, n) for s in sequences.tolist()]
        assert rule.is_valid(sequences).tolist() == expected


def test_puzzle_counts_at_the_paper_sizes() -> None:
    assert Sudoku(6).valid_count == 28_200_960
    assert Sudoku(9).valid_count == 6_670_903_752_021_072_936_960
    assert [LatinSquare(n).valid_count for n in range(2, 10)] == [
        2,
        12,
        576,
        161_280,
        812_851_200,
        61_479_419_904_000,
        108_776_032_459_082_956_800,
        5_524_751_496_156_892_842_531_225_600,
    ]


def test_sudoku_6_exact_table_covers_the_count() -> None:
    """The exact 6x6 sampler's table: distinct valid grids with first row 0..5; times 6! relabellings = the count."""
    rule = Sudoku(6, sampler="exact")
    table = _first_row_completions(6, 2, 3).long()
    assert len(table) * math.factorial(6) == rule.valid_count
    assert len(set(map(tuple, table.tolist()))) == len(table)
    assert bool(rule.is_valid(table).all())
    assert (table[:, :6] == torch.arange(6)).all()


def test_out_of_vocabulary_tokens_are_invalid() -> None:
    assert not ExactWeight(4, 4, 2).is_valid(torch.tensor([[2, 1, 0, 0]])).item()
    assert not SparseParity(4, 4).is_valid(torch.tensor([[2, 0, 0, 0]])).item()
    assert not GridParity(2, 2).is_valid(torch.tensor([[2, 0, 0, 0]])).item()
    assert not MirrorSymmetry(1, 2).is_valid(torch.tensor([[2, 2]])).item()
    assert not GroupSumMod(3, 3, 3, 2).is_valid(torch.tensor([[3, 0, 0]])).item()
    assert not Sudoku(4).is_valid(torch.tensor([[4] * 16])).item()
    assert not LatinSquare(2).is_valid(torch.tensor([[-1, 0, 0, -1]])).item()


# Samplers: validity and uniformity.


@pytest.mark.parametrize(
    "rule",
    [
        SparseParity(),
        GroupSumMod(),
        GroupSumMod(30, 6, 4, 5),
        GridParity(),
        GridParity(5, 7),
        MirrorSymmetry(),
        MirrorSymmetry(4, 5),
        ExactWeight(),
        ExactWeight(36, 9, 2),
        Sudoku(4),
        Sudoku(6),
        Sudoku(4, sampler="backtracking"),
        Sudoku(6, sampler="backtracking"),
        LatinSquare(2),
        LatinSquare(),
        LatinSquare(7, mixing_steps=20),
    ],
    ids=lambda rule: rule.name,
)
def test_sampler_yields_only_valid_sequences(rule: Rule) -> None:
    samples = rule.sample(500, torch.Generator().manual_seed(4))
    assert samples.shape == (500, rule.length)
    assert samples.dtype == torch.long
    assert bool(rule.is_valid(samples).all())
    assert rule.sample(0, torch.Generator().manual_seed(4)).shape == (0, rule.length)


def test_sudoku_9_sampler_is_valid_and_seeded() -> None:
    rule = Sudoku(9)
    first = rule.sample(40, torch.Generator().manual_seed(5))
    assert bool(rule.is_valid(first).all())
    assert len(set(map(tuple, first.tolist()))) == 40
    assert torch.equal(first, rule.sample(40, torch.Generator().manual_seed(5)))


@pytest.mark.parametrize(
    ("rule", "draws_per_sequence"),
    [
        (SparseParity(8, 3, 5), 50),
        (GroupSumMod(8, 4, 3, 2), 200),  # 5 valid groups of 16: unequal completion counts per prefix
        (GroupSumMod(6, 3, 3, 3), 60),
        (GroupSumMod(6, 6, 4, 3), 30),
        (GridParity(3, 4), 60),
        (MirrorSymmetry(3, 3), 60),
        (ExactWeight(8, 4, 2), 100),
        (ExactWeight(10, 5, 2), 50),
    ],
    ids=lambda value: getattr(value, "name", str(value)),
)
def test_binary_samplers_are_uniform(rule: Rule, draws_per_sequence: int) -> None:
    sequences = all_sequences(rule.vocab_size, rule.length)
    valid = [s for s, ok in zip(sequences, rule.is_valid(torch.tensor(sequences)).tolist(), strict=True) if ok]
    assert len(valid) == rule.valid_count
    samples = rule.sample(draws_per_sequence * len(valid), torch.Generator().manual_seed(6))
    assert chi_square(samples, valid) < chi_square_bound(len(valid) - 1)


def test_sudoku_4_exact_sampler_is_uniform() -> None:
    rule = Sudoku(4)
    valid = [s for s in permutation_row_grids(4) if plain_sudoku(s, 4, 2, 2)]
    samples = rule.sample(40 * 288, torch.Generator().manual_seed(7))
    assert chi_square(samples, valid) < chi_square_bound(287)


def test_sudoku_4_backtracking_sampler_bias_is_as_documented() -> None:
    """Backtracking is not uniform: the 96 grids with 12 intercalates get 1/4 of the mass, not 1/3."""
    rule = Sudoku(4, sampler="backtracking")
    valid = [s for s in permutation_row_grids(4) if plain_sudoku(s, 4, 2, 2)]
    assert Counter(intercalates(s, 4) for s in valid) == {12: 96, 4: 192}
    draws = 40 * 288
    samples = rule.sample(draws, torch.Generator().manual_seed(8))
    share = sum(intercalates(s, 4) == 12 for s in samples.tolist()) / draws
    assert abs(share - 1 / 4) < 4 * math.sqrt(3 / 16 / draws)
    assert chi_square(samples, valid) > chi_square_bound(287)


def test_latin_square_3_is_uniform() -> None:
    rule = LatinSquare(3)
    valid = [s for s in all_sequences(3, 9) if plain_latin(s, 3)]
    samples = rule.sample(200 * 12, torch.Generator().manual_seed(9))
    assert chi_square(samples, valid) < chi_square_bound(11)


def test_latin_square_4_is_uniform() -> None:
    """All 576 squares, and the share of the 144 Klein-type squares (12 intercalates), which only the chain sets."""
    rule = LatinSquare(4)
    valid = [s for s in permutation_row_grids(4) if plain_latin(s, 4)]
    assert Counter(intercalates(s, 4) for s in valid) == {12: 144, 4: 432}
    draws = 20 * 576
    samples = rule.sample(draws, torch.Generator().manual_seed(10))
    assert chi_square(samples, valid) < chi_square_bound(575)
    share = sum(intercalates(s, 4) == 12 for s in samples.tolist()) / draws
    assert abs(share - 1 / 4) < 4 * math.sqrt(3 / 16 / draws)


# Part validity on hand-made sequences.


def test_part_validity_of_hand_made_sequences() -> None:
    assert SparseParity(4, 2).part_validity(torch.zeros(1, 4, dtype=torch.long)) is None
    assert ExactWeight(8, 4, 2).part_validity(torch.tensor([[1, 1, 0, 0, 1, 0, 0, 0]])).tolist() == [0.5]
    assert GroupSumMod(6, 3, 3, 3).part_validity(torch.tensor([[1, 2, 0, 1, 1, 0]])).tolist() == [0.5]
    # Rows [1 1 0] and [0 0 0] are even; columns 0 and 1 are odd, column 2 even: 3 of 5 lines.
    assert GridParity(2, 3).part_validity(torch.tensor([[1, 1, 0, 0, 0, 0]])).tolist() == [pytest.approx(0.6)]
    assert MirrorSymmetry(2, 3).part_validity(torch.tensor([[1, 0, 1, 1, 0, 0], [1, 0, 1, 0, 1, 0]])).tolist() == [
        0.5,
        1.0,
    ]
    cyclic = [(r + c) % 3 for r in range(3) for c in range(3)]
    one_changed = cyclic.copy()
    one_changed[4] = (one_changed[4] + 1) % 3  # breaks row 1 and column 1
    latin = LatinSquare(3).part_validity(torch.tensor([cyclic, one_changed, [0] * 9])).tolist()
    assert latin == [1.0, pytest.approx(4 / 6), 0.0]


def test_sudoku_part_validity_of_hand_made_grids() -> None:
    grid = [0, 1, 2, 3, 2, 3, 0, 1, 1, 0, 3, 2, 3, 2, 1, 0]
    assert plain_sudoku(grid, 4, 2, 2)
    in_box = grid.copy()
    in_box[0], in_box[1] = in_box[1], in_box[0]  # columns 0 and 1 break; row 0 and box 0 stay permutations
    across = grid.copy()
    across[0], across[2] = across[2], across[0]  # columns 0 and 2 and boxes 0 and 1 break
    parts = Sudoku(4).part_validity(torch.tensor([grid, in_box, across])).tolist()
    assert parts == [1.0, pytest.approx(10 / 12), pytest.approx(8 / 12)]


# Configuration errors, registry, construction by jsonargparse.


@pytest.mark.parametrize(
    ("build", "option"),
    [
        (lambda: SparseParity(k=0), "k"),
        (lambda: SparseParity(length=4, k=5), "k"),
        (lambda: SparseParity(length=0), "length"),
        (lambda: SparseParity(subset_seed=-1), "subset_seed"),
        (lambda: GroupSumMod(length=10, group_size=3), "group_size"),
        (lambda: GroupSumMod(modulus=0), "modulus"),
        (lambda: GroupSumMod(length=63, group_size=63, modulus=2, vocab_size=2), "vocab_size"),
        (lambda: GroupSumMod(vocab_size=1), "vocab_size"),
        (lambda: GridParity(rows=0), "rows"),
        (lambda: GridParity(cols=-1), "cols"),
        (lambda: MirrorSymmetry(rows=0), "rows"),
        (lambda: MirrorSymmetry(cols=0), "cols"),
        (lambda: ExactWeight(length=10, group_size=4), "group_size"),
        (lambda: ExactWeight(group_size=6, weight=7), "weight"),
        (lambda: ExactWeight(weight=-1), "weight"),
        (lambda: Sudoku(size=5), "size"),
        (lambda: Sudoku(size=16), "size"),
        (lambda: Sudoku(size=9, sampler="exact"), "sampler"),
        (lambda: Sudoku(size=4, sampler="magic"), "sampler"),  # type: ignore[arg-type]
        (lambda: LatinSquare(size=1), "size"),
        (lambda: LatinSquare(size=10), "size"),
        (lambda: LatinSquare(mixing_steps=0), "mixing_steps"),
    ],
)
def test_config_errors_name_the_option(build: Callable[[], Rule], option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        build()


def test_config_errors_list_allowed_values() -> None:
    with pytest.raises(ConfigError, match=r"\[4, 6, 9\]"):
        Sudoku(size=5)
    with pytest.raises(ConfigError, match=r"2\.\.9"):
        LatinSquare(size=10)
    with pytest.raises(ConfigError, match=r"\[1, 2, 5, 10\]"):
        ExactWeight(length=10, group_size=4)


def test_registry_builds_every_rule_by_name() -> None:
    assert set(RULES) == {
        "group_parity",
        "sparse_parity",
        "group_sum_mod",
        "grid_parity",
        "mirror_symmetry",
        "exact_weight",
        "sudoku",
        "latin_square",
    }
    assert RULES["group_parity"] is GroupParity
    for name, rule_class in RULES.items():
        rule = make_rule(name)
        assert type(rule) is rule_class and rule.name == name
        assert rule.describe()["name"] == name
    assert make_rule("sudoku", size=4).describe()["size"] == 4


def test_registry_errors() -> None:
    with pytest.raises(ConfigError, match="latin_square") as unknown:
        make_rule("chess")
    assert "chess" in str(unknown.value)
    with pytest.raises(ConfigError, match="mixing_steps") as bad_parameter:
        make_rule("latin_square", colour=3)
    assert "colour" in str(bad_parameter.value)


def test_describe_reports_the_knobs() -> None:
    assert SparseParity().describe()["k"] == 4 and SparseParity().complexity == 4
    assert GroupSumMod().describe()["modulus"] == 3 and GroupSumMod().complexity == 3
    assert GridParity(4, 5).describe()["cols"] == 5 and GridParity(4, 5).complexity == 20
    assert MirrorSymmetry(4, 5).complexity == 5
    assert ExactWeight().describe()["weight"] == 3 and ExactWeight().complexity == 6
    assert Sudoku(6).describe()["box"] == [2, 3] and Sudoku(6).describe()["sampler"] == "exact"
    assert Sudoku(9).describe()["sampler"] == "backtracking"
    assert LatinSquare(4).describe()["mixing_steps"] == 64


@pytest.mark.parametrize("name", sorted(RULES))
def test_rules_build_from_jsonargparse(name: str) -> None:
    """Every constructor argument has a default and a type jsonargparse understands."""
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(RULES[name], "rule")
    config = parser.instantiate_classes(parser.parse_args([]))
    assert type(config.rule) is RULES[name]


@pytest.mark.parametrize("name", sorted(RULES))
def test_wrong_shape_is_rejected(name: str) -> None:
    rule = make_rule(name, size=4) if name in ("sudoku", "latin_square") else make_rule(name)
    with pytest.raises(ValueError, match="shape"):
        rule.is_valid(torch.zeros(3, rule.length + 1, dtype=torch.long))
