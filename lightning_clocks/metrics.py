"""Per-evaluation metrics of generated samples (docs/method.md, "Metrics"), as torchmetrics ``Metric``s.

Every state is a count (or a sum), reduced by summation across ranks, so rates are exact
under DDP: a rate is always a count over a count. ``generation_metrics`` builds the whole
collection for one rule, training set and control set; ``summarize`` turns its output into
the flat dictionary of floats that the callback logs and writes to ``curves.csv``.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric, MetricCollection

from lightning_clocks.rows import RowSet, pack_rows
from lightning_clocks.rules import Rule


class _RateMetric(Metric):
    """A fraction of samples with some property: ``hits / total``, both summed across ranks."""

    full_state_update = False
    higher_is_better = True

    def __init__(self) -> None:
        super().__init__()
        self.add_state("hits", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def per_sample(self, samples: torch.Tensor) -> torch.Tensor:
        """The property (0/1, or a fraction) of each sample."""
        raise NotImplementedError

    def update(self, samples: torch.Tensor) -> None:
        self.hits += self.per_sample(samples).to(torch.float64).sum()
        self.total += samples.shape[0]

    def compute(self) -> torch.Tensor:
        return self.hits / self.total.clamp(min=1)


class Validity(_RateMetric):
    """Fraction of samples that satisfy the rule."""

    def __init__(self, rule: Rule) -> None:
        super().__init__()
        self.rule = rule

    def per_sample(self, samples: torch.Tensor) -> torch.Tensor:
        return self.rule.is_valid(samples)


class PartValidity(_RateMetric):
    """Mean fraction of the rule's parts (groups, rows, ...) that are valid."""

    def __init__(self, rule: Rule) -> None:
        super().__init__()
        if not rule.has_parts:
            raise ValueError(f"rule {rule.name!r} has no parts")
        self.rule = rule

    def per_sample(self, samples: torch.Tensor) -> torch.Tensor:
        return self.rule.part_validity(samples)


class CopyRate(_RateMetric):
    """Fraction of samples identical to some reference row (training set or control set)."""

    higher_is_better = False

    def __init__(self, reference: RowSet) -> None:
        super().__init__()
        self.reference = reference

    def per_sample(self, samples: torch.Tensor) -> torch.Tensor:
        return self.reference.contains(samples)


class NovelValid(_RateMetric):
    """Fraction of samples that are valid and not a copy of a training row: the innovation rate."""

    def __init__(self, rule: Rule, training_rows: RowSet) -> None:
        super().__init__()
        self.rule = rule
        self.training_rows = training_rows

    def per_sample(self, samples: torch.Tensor) -> torch.Tensor:
        return self.rule.is_valid(samples) & ~self.training_rows.contains(samples)


class SampleCount(Metric):
    """Number of samples evaluated, over all ranks (M)."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, samples: torch.Tensor) -> None:
        self.total += samples.shape[0]

    def compute(self) -> torch.Tensor:
        return self.total


class UniqueRate(Metric):
    """Distinct samples over all samples (across ranks: the packed rows are gathered, then counted)."""

    full_state_update = False

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.add_state("packed", default=[], dist_reduce_fx="cat")

    def update(self, samples: torch.Tensor) -> None:
        self.packed.append(pack_rows(samples, self.vocab_size))

    def compute(self) -> torch.Tensor:
        packed = self.packed if isinstance(self.packed, torch.Tensor) else torch.cat(self.packed)
        return torch.tensor(torch.unique(packed, dim=0).shape[0] / max(packed.shape[0], 1), dtype=torch.float64)


class NearestTrainingDistance(Metric):
    """Mean normalised Hamming distance to the nearest training row, and the near-copy rate.

    Exact copies (found by hashing) are at distance 0 and cost nothing more. For the others,
    distances come from inner products of cell encodings: with two tokens, cells are +-1 and
    Hamming = (L - <a, b>) / 2; with more, cells are one-hot and Hamming = L - <a, b>. They are
    computed in blocks of ``chunk_size`` samples x ``chunk_size`` training rows, unpacked from the
    shared :class:`RowSet`, so that memory stays bounded (a ``chunk_size``^2 float block) whatever
    N and M are.
    """

    full_state_update = False
    higher_is_better = False

    def __init__(self, training_rows: RowSet, near_copy_distance: int = 0, chunk_size: int = 4096) -> None:
        super().__init__()
        if near_copy_distance < 0:
            raise ValueError(f"near_copy_distance={near_copy_distance} must be >= 0")
        self.training_rows = training_rows
        self.near_copy_distance = near_copy_distance
        self.chunk_size = chunk_size
        self.add_state("distance_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("near_copies", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def nearest_distance(self, samples: torch.Tensor) -> torch.Tensor:
        """Hamming distance (in cells) of each sample to its nearest training row: ``LongTensor[M]``."""
        length = samples.shape[1]
        best = torch.zeros(samples.shape[0], dtype=torch.long, device=samples.device)
        pending = torch.nonzero(~self.training_rows.contains(samples)).flatten()
        cells_per_mismatch = 2 if self.training_rows.vocab_size == 2 else 1
        for start in range(0, pending.shape[0], self.chunk_size):
            rows = pending[start : start + self.chunk_size]
            queries = self._encode(samples[rows])
            nearest = torch.full((rows.shape[0],), length, dtype=torch.long, device=samples.device)
            for ref_start in range(0, len(self.training_rows), self.chunk_size):
                references = self._encode(self.training_rows.rows(ref_start, ref_start + self.chunk_size))
                similarity = (queries @ references.T).max(dim=1).values
                nearest = torch.minimum(nearest, (length - similarity.round().long()) // cells_per_mismatch)
            best[rows] = nearest
        return best

    def _encode(self, rows: torch.Tensor) -> torch.Tensor:
        if self.training_rows.vocab_size == 2:
            return (2 * rows - 1).float()
        return torch.nn.functional.one_hot(rows, self.training_rows.vocab_size).flatten(1).float()

    def update(self, samples: torch.Tensor) -> None:
        distance = self.nearest_distance(samples)
        self.distance_sum += distance.to(torch.float64).sum() / samples.shape[1]
        self.near_copies += (distance <= self.near_copy_distance).sum()
        self.total += samples.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        total = self.total.clamp(min=1)
        return {"nn_distance": self.distance_sum / total, "near_copy_rate": self.near_copies / total}


def generation_metrics(
    rule: Rule, train: torch.Tensor, control: torch.Tensor, near_copy_distance: int = 0
) -> MetricCollection:
    """All per-evaluation metrics for samples of ``rule`` given the training and control sets.

    The training set is indexed once and shared by the metrics that look rows up in it.
    """
    training_rows = RowSet(train, rule.vocab_size)
    metrics: dict[str, Metric] = {
        "validity": Validity(rule),
        "copy_rate": CopyRate(training_rows),
        "control_copy_rate": CopyRate(RowSet(control, rule.vocab_size)),
        "novel_valid": NovelValid(rule, training_rows),
        "unique": UniqueRate(rule.vocab_size),
        "num_samples": SampleCount(),
        "nearest": NearestTrainingDistance(training_rows, near_copy_distance),
    }
    if rule.has_parts:
        metrics["part_validity"] = PartValidity(rule)
    return MetricCollection(metrics, compute_groups=False)


def summarize(computed: dict[str, torch.Tensor]) -> dict[str, float]:
    """Flatten a computed collection into named floats and add ``mem_excess``."""
    flat: dict[str, float] = {}
    for name, value in computed.items():
        if isinstance(value, dict):
            flat.update({key: float(item) for key, item in value.items()})
        else:
            flat[name.removeprefix("nearest_")] = float(value)
    flat["mem_excess"] = flat["copy_rate"] - flat["control_copy_rate"]
    return flat
