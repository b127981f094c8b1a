"""Synthetic data rules: one module per rule, all behind the :class:`Rule` interface."""

from lightning_clocks.rules.base import Rule
from lightning_clocks.rules.exact_weight import ExactWeight
from lightning_clocks.rules.grid_parity import GridParity
from lightning_clocks.rules.group_sum_mod import GroupSumMod
from lightning_clocks.rules.latin_square import LatinSquare
from lightning_clocks.rules.mirror_symmetry import MirrorSymmetry
from lightning_clocks.rules.parity import GroupParity
from lightning_clocks.rules.registry import RULES, make_rule
from lightning_clocks.rules.sparse_parity import SparseParity
from lightning_clocks.rules.sudoku import Sudoku

__all__ = [
    "RULES",
    "ExactWeight",
    "GridParity",
    "GroupParity",
    "GroupSumMod",
    "LatinSquare",
    "MirrorSymmetry",
    "Rule",
    "SparseParity",
    "Sudoku",
    "make_rule",
]
