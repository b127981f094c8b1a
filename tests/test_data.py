"""The DataModule: distinct, disjoint, valid sets from a seed; resumable batches; clear errors."""

from __future__ import annotations

import itertools

import pytest
import torch

from lightning_clocks.data import RuleDataModule, StepBatches
from lightning_clocks.errors import ConfigError
from lightning_clocks.rules import GroupParity


def rows(tensor: torch.Tensor) -> set[tuple[int, ...]]:
    return {tuple(row) for row in tensor.tolist()}


def test_training_and_control_sets() -> None:
    data = RuleDataModule(GroupParity(12, 2), n_train=40, n_control=20, seed=7)
    data.setup("fit")
    assert data.train_set.shape == (40, 12) and data.control_set.shape == (20, 12)
    assert len(rows(data.train_set)) == 40 and len(rows(data.control_set)) == 20
    assert not rows(data.train_set) & rows(data.control_set)
    assert bool(data.rule.is_valid(torch.cat([data.train_set, data.control_set])).all())


def test_sets_fill_the_whole_valid_set_when_asked() -> None:
    data = RuleDataModule(GroupParity(8, 2), n_train=10, n_control=6)  # 16 valid sequences in all
    data.setup("fit")
    assert len(rows(torch.cat([data.train_set, data.control_set]))) == 16


def test_control_defaults_to_n_and_sets_depend_only_on_the_seed() -> None:
    first = RuleDataModule(GroupParity(24, 3), n_train=64, seed=1)
    second = RuleDataModule(GroupParity(24, 3), n_train=64, seed=1)
    other = RuleDataModule(GroupParity(24, 3), n_train=64, seed=2)
    for data in (first, second, other):
        data.setup("fit")
    assert first.n_control == 64
    assert torch.equal(first.train_set, second.train_set) and torch.equal(first.control_set, second.control_set)
    assert not torch.equal(first.train_set, other.train_set)


def test_batches_are_a_function_of_the_step() -> None:
    train = torch.arange(100).unsqueeze(1)
    from_start = list(itertools.islice(StepBatches(train, 8, seed=0, rank=0, start_step=0), 6))
    resumed = list(itertools.islice(StepBatches(train, 8, seed=0, rank=0, start_step=3), 3))
    assert all(torch.equal(a, b) for a, b in zip(from_start[3:], resumed, strict=True))
    other_rank = next(iter(StepBatches(train, 8, seed=0, rank=1, start_step=0)))
    assert not torch.equal(from_start[0], other_rank)


def test_batches_draw_uniformly_with_replacement() -> None:
    train = torch.arange(10).unsqueeze(1)
    draws = torch.cat(list(itertools.islice(StepBatches(train, 100, seed=0, rank=0, start_step=0), 50)))
    counts = torch.bincount(draws.flatten(), minlength=10).float()
    assert counts.min() > 400 and counts.max() < 600  # 500 expected each, sd about 21


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_train": 10}, r"data.n_train=10 plus data.n_control=10 exceeds the 16 valid"),
        ({"n_train": 4, "n_control": 13}, r"n_train \+ n_control <= 16"),
        ({"n_train": 0}, "data.n_train=0"),
        ({"n_train": 4, "batch_size": 0}, "data.batch_size=0"),
    ],
)
def test_impossible_sizes_fail_at_construction(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RuleDataModule(GroupParity(8, 2), **kwargs)
