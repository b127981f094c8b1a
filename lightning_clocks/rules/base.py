"""The rule interface: what every synthetic data rule provides (docs/method.md, "Rules").

A rule is a set of valid token sequences of fixed length ``length`` over the
vocabulary ``{0, ..., vocab_size - 1}``. It knows exactly which sequences are
valid, can draw valid sequences uniformly at random, and counts them when that
is computable. The DataModule, the models and the metrics see only this
interface, so a new rule is one small module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from lightning_clocks.errors import ConfigError, require_positive


class Rule(ABC):
    """A checkable set of valid sequences with an exact uniform sampler."""

    #: Short name used in results (``clocks.json``) and by the registry.
    name: str = ""

    def __init__(self, length: int, vocab_size: int) -> None:
        require_positive("length", length)
        if vocab_size < 2:
            raise ConfigError(f"vocab_size={vocab_size} is invalid: a rule needs at least 2 symbols")
        self.length = length
        self.vocab_size = vocab_size

    @property
    @abstractmethod
    def complexity(self) -> float:
        """The value of this rule's complexity knob (for sweeps and reports)."""

    @property
    @abstractmethod
    def valid_count(self) -> int | None:
        """Exact number of valid sequences, or ``None`` where it is not computable."""

    @abstractmethod
    def is_valid(self, sequences: torch.Tensor) -> torch.Tensor:
        """Exact validity of each row of a ``LongTensor[M, length]``: ``BoolTensor[M]``."""

    @abstractmethod
    def sample(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``num_samples`` valid sequences (``LongTensor[num_samples, length]``) on the CPU."""

    def part_validity(self, sequences: torch.Tensor) -> torch.Tensor | None:
        """Fraction of this rule's parts (groups, rows, ...) that are valid, per row; ``None`` if partless."""
        return None

    @property
    def has_parts(self) -> bool:
        """Whether this rule defines :meth:`part_validity` (groups, rows, boxes, ...)."""
        return type(self).part_validity is not Rule.part_validity

    @property
    def chance_validity(self) -> float | None:
        """Validity of uniformly random sequences: ``valid_count / vocab_size ** length``."""
        count = self.valid_count
        return None if count is None else count / self.vocab_size**self.length

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary of the rule for result files."""
        return {
            "name": self.name,
            "length": self.length,
            "vocab_size": self.vocab_size,
            "complexity": self.complexity,
            "valid_count": self.valid_count,
        }

    def check_sequences(self, sequences: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``sequences`` is an integer ``[M, length]`` tensor in the vocabulary."""
        if sequences.dim() != 2 or sequences.shape[1] != self.length:
            raise ValueError(f"expected sequences of shape [M, {self.length}], got {tuple(sequences.shape)}")
        if sequences.is_floating_point():
            raise ValueError("sequences must be an integer tensor of tokens")


class GroupedRule(Rule):
    """A rule whose constraint applies to each contiguous group of ``group_size`` tokens (the complexity knob)."""

    def __init__(self, length: int, group_size: int, vocab_size: int) -> None:
        require_positive("data.rule.length", length)
        require_positive("data.rule.group_size", group_size)
        if length % group_size:
            divisors = [d for d in range(1, length + 1) if length % d == 0]
            raise ConfigError(
                f"data.rule.group_size={group_size} does not divide data.rule.length={length}; "
                f"allowed group sizes: {divisors}"
            )
        super().__init__(length=length, vocab_size=vocab_size)
        self.group_size = group_size

    @property
    def complexity(self) -> float:
        return float(self.group_size)

    @property
    def num_groups(self) -> int:
        return self.length // self.group_size

