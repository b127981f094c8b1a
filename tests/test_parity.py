"""Group parity against brute-force enumeration, and its sampler's uniformity."""

from __future__ import annotations

import itertools

import pytest
import torch

from lightning_clocks.errors import ConfigError
from lightning_clocks.rules import GroupParity


def all_sequences(length: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0, 1], repeat=length)))


def plain_valid(sequence: list[int], groups: list[list[int]]) -> bool:
    return all(sum(sequence[position] for position in group) % 2 == 0 for group in groups)


@pytest.mark.parametrize(
    ("length", "group_size", "layout"),
    [
        (6, 2, "contiguous"),
        (6, 3, "contiguous"),
        (8, 4, "contiguous"),
        (12, 3, "contiguous"),
        (12, 6, "contiguous"),
        (16, 4, "blocks"),
        (16, 2, "blocks"),
        (9, 3, "blocks"),
    ],
)
def test_valid_count_matches_enumeration(length: int, group_size: int, layout: str) -> None:
    rule = GroupParity(length, group_size, layout)
    everything = all_sequences(length)
    valid = rule.is_valid(everything)
    assert int(valid.sum()) == rule.valid_count == 2 ** (length - length // group_size)
    groups = rule.groups.tolist()
    expected = [plain_valid(row, groups) for row in everything.tolist()]
    assert valid.tolist() == expected


def test_blocks_layout_is_square_blocks_of_the_image() -> None:
    rule = GroupParity(16, 4, "blocks")
    assert sorted(rule.groups[0].tolist()) == [0, 1, 4, 5]
    assert sorted(rule.groups[3].tolist()) == [10, 11, 14, 15]


def test_paper_sizes() -> None:
    assert GroupParity(36, 2).valid_count == 262_144
    assert GroupParity(36, 6).valid_count == 2**30


def test_sampler_yields_only_valid_sequences() -> None:
    rule = GroupParity(36, 4, "blocks")
    samples = rule.sample(5000, torch.Generator().manual_seed(1))
    assert bool(rule.is_valid(samples).all())


def test_sampler_is_uniform_chi_square() -> None:
    rule = GroupParity(6, 3)  # 16 valid sequences
    draws = 32_000
    samples = rule.sample(draws, torch.Generator().manual_seed(2))
    codes = (samples * (2 ** torch.arange(6))).sum(dim=1)
    counts = torch.bincount(codes, minlength=64).float()
    everything = all_sequences(6)
    valid_mask = torch.zeros(64, dtype=torch.bool)
    valid_mask[(everything @ (2 ** torch.arange(6)))[rule.is_valid(everything)]] = True
    assert counts[~valid_mask].sum() == 0
    expected = draws / 16
    chi_square = float(((counts[valid_mask] - expected) ** 2 / expected).sum())
    # 15 degrees of freedom: P(chi2 > 37.7) = 0.001.
    assert chi_square < 37.7


def test_part_validity_hand_made() -> None:
    rule = GroupParity(6, 2)
    samples = torch.tensor([[0, 0, 1, 1, 0, 1], [1, 0, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0]])
    assert rule.part_validity(samples).tolist() == pytest.approx([2 / 3, 0.0, 1.0])
    assert rule.is_valid(samples).tolist() == [False, False, True]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"length": 10, "group_size": 3}, "data.rule.group_size=3 does not divide data.rule.length=10"),
        ({"length": 0, "group_size": 2}, "data.rule.length=0"),
        ({"length": 12, "group_size": -1}, "data.rule.group_size=-1"),
        ({"length": 12, "group_size": 2, "layout": "diagonal"}, "allowed: 'contiguous', 'blocks'"),
        ({"length": 12, "group_size": 2, "layout": "blocks"}, "square image"),
    ],
)
def test_impossible_settings_are_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GroupParity(**kwargs)
