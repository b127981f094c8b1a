"""Metrics on hand-made samples with known rates, and the perfect-sampler invariant."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from lightning_clocks.metrics import NearestTrainingDistance, generation_metrics, summarize
from lightning_clocks.rows import RowSet
from lightning_clocks.rules import GroupParity

RULE = GroupParity(6, 2)  # 8 valid sequences of 6 bits
VALID = [
    list(row)
    for row in itertools.product([0, 1], repeat=6)
    if sum(row[0:2]) % 2 == sum(row[2:4]) % 2 == 0 and sum(row[4:6]) % 2 == 0
]


def evaluate(samples: torch.Tensor, train: torch.Tensor, control: torch.Tensor, **kwargs) -> dict[str, float]:
    metrics = generation_metrics(RULE, train, control, **kwargs)
    metrics.update(samples)
    return summarize(metrics.compute())


def test_hand_made_rates() -> None:
    train = torch.tensor(VALID[:2])
    control = torch.tensor(VALID[2:4])
    invalid = [1, 0, 0, 0, 0, 0]  # distance 1 from VALID[0] = all zeros
    samples = torch.tensor([VALID[0], VALID[0], VALID[1], VALID[2], VALID[5], invalid, invalid, [1, 0, 1, 0, 1, 0]])
    result = evaluate(samples, train, control, near_copy_distance=1)
    assert result["num_samples"] == 8
    assert result["validity"] == pytest.approx(5 / 8)
    assert result["copy_rate"] == pytest.approx(3 / 8)
    assert result["control_copy_rate"] == pytest.approx(1 / 8)
    assert result["mem_excess"] == pytest.approx(2 / 8)
    assert result["novel_valid"] == pytest.approx(2 / 8)
    assert result["unique"] == pytest.approx(6 / 8)
    # part validity: 5 valid samples (1 each), two with 2/3 groups even, [1,0,1,0,1,0] with none.
    assert result["part_validity"] == pytest.approx((5 + 2 * 2 / 3 + 0) / 8)
    # nearest training distances (in cells): 0,0,0, d(VALID[2]), d(VALID[5]), 1, 1, d([1,0,1,0,1,0]).
    distances = [
        min(sum(a != b for a, b in zip(row, ref, strict=True)) for ref in VALID[:2]) for row in samples.tolist()
    ]
    assert result["nn_distance"] == pytest.approx(sum(distances) / 6 / 8)
    assert result["near_copy_rate"] == pytest.approx(sum(d <= 1 for d in distances) / 8)


def test_perfect_rule_sampler_copies_at_the_control_rate() -> None:
    rule = GroupParity(16, 2)  # 256 valid sequences
    generator = torch.Generator().manual_seed(0)
    from lightning_clocks.data import draw_distinct

    sets = draw_distinct(rule, 128, generator)
    train, control = sets[:64], sets[64:]
    samples = rule.sample(40_000, generator)
    metrics = generation_metrics(rule, train, control)
    metrics.update(samples)
    result = summarize(metrics.compute())
    expected = 64 / 256
    tolerance = 5 * math.sqrt(expected * (1 - expected) / 40_000)
    assert result["copy_rate"] == pytest.approx(expected, abs=tolerance)
    assert result["control_copy_rate"] == pytest.approx(expected, abs=tolerance)
    assert abs(result["mem_excess"]) < 2 * tolerance
    assert result["validity"] == 1.0
    assert result["novel_valid"] == pytest.approx(1 - expected, abs=tolerance)


def test_metrics_are_counts_so_split_updates_equal_one_update() -> None:
    rule = GroupParity(12, 3)
    generator = torch.Generator().manual_seed(3)
    train, control = rule.sample(50, generator), rule.sample(50, generator)
    samples = torch.cat([train[:30], torch.randint(0, 2, (70, 12), generator=generator)])
    whole = generation_metrics(rule, train, control)
    whole.update(samples)
    parts = generation_metrics(rule, train, control)
    for chunk in torch.split(samples, 17):
        parts.update(chunk)
    assert summarize(whole.compute()) == pytest.approx(summarize(parts.compute()))


@pytest.mark.parametrize("vocab_size", [2, 3])
def test_nearest_distance_is_chunked_exactly(vocab_size: int) -> None:
    generator = torch.Generator().manual_seed(4)
    train = torch.randint(0, vocab_size, (103, 10), generator=generator)
    samples = torch.cat([train[:9], torch.randint(0, vocab_size, (57, 10), generator=generator)])
    brute = torch.tensor(
        [min(sum(a != b for a, b in zip(s, t, strict=True)) for t in train.tolist()) for s in samples.tolist()]
    )
    small_chunks = NearestTrainingDistance(RowSet(train, vocab_size), chunk_size=8).nearest_distance(samples)
    assert small_chunks.tolist() == brute.tolist()
    assert small_chunks[:9].tolist() == [0] * 9
