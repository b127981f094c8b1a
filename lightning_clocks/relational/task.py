"""Transitive inference with one exception (docs/method.md): items, training and test pairs, categories, labels.

Conventions, used everywhere in :mod:`lightning_clocks.relational`:

- **Items** are the 0-based indices ``0 .. n-1``; item 0 is the strongest. Their display names are
  1-based: item ``k`` is ``I{k+1}`` (``I1`` is item 0). docs/method.md's "exception (5, 3)" is in 0-based
  indices and its "I6 beats I4" is the same pair in names; the facts of docs/method.md ("I3-vs-I6 becomes
  wrong", "I1-vs-I3 stays right", ...) use names, i.e. I3-vs-I6 is the pair of indices (2, 5).
- A **pair** ``(i, j)`` is ordered: "does ``i`` win against ``j``?". Its label is ``+1.0`` when ``i``
  wins and ``-1.0`` when ``j`` wins. Without the exception ``i`` wins exactly when ``i < j``.
- The **exception** ``(W, L)`` makes the lower-ranked item ``W`` (larger index) win against ``L``.
  The cycle span is ``[L, W]``: the exception together with the adjacent pairs between ``L`` and ``W``
  forms a cycle ``L > L+1 > ... > W > L`` that no ranking can satisfy.

Categories, one per ordered pair ``(i, j)``, ``i != j`` (rules applied in this order):

1. ``cycle``: the exception pair in either order, or an adjacent pair (``|i - j| == 1``) with both
   items inside the span ``[L, W]``. These are the training pairs of the cycle: the memorization set.
2. ``train-regular``: every other adjacent pair.
3. ``no-ground-truth``: non-adjacent, both items inside ``[L, W]`` (the cycle decides nothing there).
4. ``touching-cycle``: non-adjacent, exactly one item inside ``[L, W]``.
5. ``within-section``: non-adjacent, both items strictly above the span (``< L``) or both strictly
   below it (``> W``).
6. ``cross-section``: non-adjacent, one item ``< L`` and the other ``> W``.

Without an exception there is no span: adjacent pairs are ``train-regular`` and every non-adjacent
pair is ``within-section`` (the whole line is one section).

Training pairs are the adjacent pairs and the exception pair, each in both orders. Test pairs are
all the other ordered pairs (the non-adjacent ones except the exception). Every test pair has the
label of the order except the ``no-ground-truth`` pairs, whose label is ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import numpy as np

from lightning_clocks.errors import ConfigError, require_at_most

Pair = tuple[int, int]

TRAIN_REGULAR: Final = "train-regular"
CYCLE: Final = "cycle"
WITHIN_SECTION: Final = "within-section"
CROSS_SECTION: Final = "cross-section"
TOUCHING_CYCLE: Final = "touching-cycle"
NO_GROUND_TRUTH: Final = "no-ground-truth"

#: Every category, in the order used by tables and by the phase-diagram array.
CATEGORIES: Final[tuple[str, ...]] = (
    TRAIN_REGULAR,
    CYCLE,
    WITHIN_SECTION,
    CROSS_SECTION,
    TOUCHING_CYCLE,
    NO_GROUND_TRUTH,
)

#: The named task variants of docs/method.md: ``name -> (num_items, exception as 0-based (W, L) or None)``.
VARIANTS: Final[dict[str, tuple[int, Pair | None]]] = {
    "none": (9, None),  # no exception
    "mid": (9, (5, 3)),  # I6 beats I4
    "n11_mid": (11, (6, 4)),  # I7 beats I5
    "far": (11, (7, 3)),  # I8 beats I4
}

MIN_ITEMS: Final = 3
#: The most items: the kernel theory and the pair models hold every ordered pair of items (and kernels between
#: pairs), so memory grows with the square of the pairs.
MAX_ITEMS: Final = 200
_ITEM_NAME = re.compile(r"^[Ii](\d+)$")


def item_name(index: int) -> str:
    """The 1-based display name of a 0-based item index: ``item_name(0) == "I1"``."""
    return f"I{index + 1}"


def item_index(name: str) -> int:
    """The 0-based index of a display name such as ``"I6"`` (inverse of :func:`item_name`)."""
    match = _ITEM_NAME.match(name.strip())
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(f"item={name!r} is not an item name: use I1, I2, ... (1-based; I1 is the strongest)")
    return int(match.group(1)) - 1


def pair_name(pair: Pair) -> str:
    """A readable name of an ordered pair, e.g. ``"I3 vs I6"`` for ``(2, 5)``."""
    return f"{item_name(pair[0])} vs {item_name(pair[1])}"


def _require_int(option: str, value: object) -> int:
    """Return ``value`` if it is a plain integer (not a bool), else raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{option}={value!r} is not an integer")
    return int(value)


def validate_exception(num_items: int, exception: object) -> Pair | None:
    """Check an exception ``(W, L)`` for a line of ``num_items`` items and return it as a tuple of ints.

    Allowed: ``None`` (no exception), or two 0-based indices in range with ``W > L`` (the lower-ranked
    item wins: a reversal of the order) and ``W - L >= 2`` (an adjacent reversal would contradict a
    training pair instead of forming a cycle).
    """
    if exception is None:
        return None
    if isinstance(exception, (str, bytes)) or not hasattr(exception, "__len__") or len(exception) != 2:
        raise ConfigError(f"exception={exception!r} must be None or a pair (W, L) of 0-based item indices")
    winner = _require_int("exception W", exception[0])
    loser = _require_int("exception L", exception[1])
    if not (0 <= loser < num_items and 0 <= winner < num_items):
        raise ConfigError(
            f"exception={exception!r}: both items must be 0-based indices in 0..{num_items - 1} (num_items={num_items})"
        )
    if winner <= loser:
        raise ConfigError(
            f"exception={exception!r}: W must be ranked below L (W > L as 0-based indices; item 0 is the strongest), "
            f"e.g. ({loser}, {winner}) instead"
        )
    if winner - loser < 2:
        raise ConfigError(
            f"exception={exception!r}: W and L must not be adjacent (W - L >= 2); an adjacent reversal "
            "contradicts a training pair instead of forming a cycle"
        )
    return (winner, loser)


def categorize(pair: Pair, exception: Pair | None) -> str:
    """The category of an ordered pair ``(i, j)``, ``i != j``, under the rules in the module docstring."""
    i, j = pair
    adjacent = abs(i - j) == 1
    if exception is None:
        return TRAIN_REGULAR if adjacent else WITHIN_SECTION
    winner, loser = exception
    inside_i = loser <= i <= winner
    inside_j = loser <= j <= winner
    if {i, j} == {winner, loser} or (adjacent and inside_i and inside_j):
        return CYCLE
    if adjacent:
        return TRAIN_REGULAR
    if inside_i and inside_j:
        return NO_GROUND_TRUTH
    if inside_i or inside_j:
        return TOUCHING_CYCLE
    both_above = i < loser and j < loser
    both_below = i > winner and j > winner
    return WITHIN_SECTION if both_above or both_below else CROSS_SECTION


@dataclass(frozen=True)
class TransitiveTask:
    """A line of ``num_items`` items (0 strongest) with at most one exception ``(W, L)``, W winning against L.

    Pairs are 0-based ordered index pairs; see the module docstring for names, categories and labels.
    """

    num_items: int = 9
    exception: Pair | None = (5, 3)

    def __post_init__(self) -> None:
        num_items = _require_int("num_items", self.num_items)
        if num_items < MIN_ITEMS:
            raise ConfigError(f"num_items={num_items} is too small: need at least {MIN_ITEMS} items")
        require_at_most("num_items", num_items, MAX_ITEMS, "every pair of items is held in memory")
        object.__setattr__(self, "num_items", num_items)
        object.__setattr__(self, "exception", validate_exception(num_items, self.exception))

    @classmethod
    def from_variant(cls, name: str) -> TransitiveTask:
        """The named variant of docs/method.md (a key of :data:`VARIANTS`)."""
        if name not in VARIANTS:
            raise ConfigError(f"variant={name!r} is unknown: choose one of {sorted(VARIANTS)}")
        num_items, exception = VARIANTS[name]
        return cls(num_items=num_items, exception=exception)

    @property
    def cycle_span(self) -> tuple[int, int] | None:
        """The index range ``(L, W)`` spanned by the cycle, or ``None`` without an exception."""
        if self.exception is None:
            return None
        winner, loser = self.exception
        return (loser, winner)

    def all_pairs(self) -> list[Pair]:
        """Every ordered pair ``(i, j)``, ``i != j``, in row-major order."""
        n = self.num_items
        return [(i, j) for i in range(n) for j in range(n) if i != j]

    def is_exception(self, pair: Pair) -> bool:
        """Whether ``pair`` is the exception pair, in either order."""
        return self.exception is not None and set(pair) == set(self.exception)

    def category(self, pair: Pair) -> str:
        """The category of an ordered pair (one of :data:`CATEGORIES`)."""
        self._check_pair(pair)
        return categorize(pair, self.exception)

    def label(self, pair: Pair) -> float | None:
        """Ground truth: ``+1.0`` if the first item wins, ``-1.0`` if it loses, ``None`` if undetermined."""
        category = self.category(pair)
        if category == NO_GROUND_TRUTH:
            return None
        i, j = pair
        first_wins = i < j
        if self.is_exception(pair):
            first_wins = not first_wins
        return 1.0 if first_wins else -1.0

    def training_pairs(self) -> list[Pair]:
        """Adjacent pairs in both orders, then the exception pair ``(W, L), (L, W)`` if there is one."""
        pairs: list[Pair] = []
        for i in range(self.num_items - 1):
            pairs += [(i, i + 1), (i + 1, i)]
        if self.exception is not None:
            winner, loser = self.exception
            pairs += [(winner, loser), (loser, winner)]
        return pairs

    def training_labels(self) -> np.ndarray:
        """The labels of :meth:`training_pairs` as a float64 vector."""
        return np.array([self.label(pair) for pair in self.training_pairs()], dtype=np.float64)

    def test_pairs(self) -> list[Pair]:
        """Every ordered pair that is not a training pair (all non-adjacent pairs but the exception)."""
        training = set(self.training_pairs())
        return [pair for pair in self.all_pairs() if pair not in training]

    def pairs_in(self, category: str) -> list[Pair]:
        """All ordered pairs of one category."""
        if category not in CATEGORIES:
            raise ConfigError(f"category={category!r} is unknown: choose one of {list(CATEGORIES)}")
        return [pair for pair in self.all_pairs() if self.category(pair) == category]

    def describe(self) -> str:
        """A one-line description, e.g. ``"9 items, exception I6 beats I4"``."""
        if self.exception is None:
            return f"{self.num_items} items, no exception"
        winner, loser = self.exception
        return f"{self.num_items} items, exception {item_name(winner)} beats {item_name(loser)}"

    def _check_pair(self, pair: Pair) -> None:
        """Raise :class:`ConfigError` unless ``pair`` is two distinct item indices of this task."""
        i, j = _require_int("pair item", pair[0]), _require_int("pair item", pair[1])
        if not (0 <= i < self.num_items and 0 <= j < self.num_items) or i == j:
            raise ConfigError(f"pair={pair!r} must be two distinct 0-based item indices in 0..{self.num_items - 1}")
