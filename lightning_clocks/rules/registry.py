"""Rules by name, so configs and results can name a rule with a string (``clocks.json`` stores ``Rule.name``)."""

from __future__ import annotations

import inspect

from lightning_clocks.errors import ConfigError
from lightning_clocks.rules.base import Rule
from lightning_clocks.rules.exact_weight import ExactWeight
from lightning_clocks.rules.grid_parity import GridParity
from lightning_clocks.rules.group_sum_mod import GroupSumMod
from lightning_clocks.rules.latin_square import LatinSquare
from lightning_clocks.rules.mirror_symmetry import MirrorSymmetry
from lightning_clocks.rules.parity import GroupParity
from lightning_clocks.rules.sparse_parity import SparseParity
from lightning_clocks.rules.sudoku import Sudoku

#: Every rule class by its ``name``.
RULES: dict[str, type[Rule]] = {
    rule.name: rule
    for rule in (GroupParity, SparseParity, GroupSumMod, GridParity, MirrorSymmetry, ExactWeight, Sudoku, LatinSquare)
}


def make_rule(name: str, **kwargs: object) -> Rule:
    """Build the rule called ``name`` with constructor arguments ``kwargs``.

    Raises:
        ConfigError: for an unknown rule name or an argument the rule does not take (listing the allowed
            ones), or for an impossible setting (from the rule's constructor).
    """
    if name not in RULES:
        raise ConfigError(f"rule={name!r} is unknown; allowed rules: {sorted(RULES)}")
    rule_class = RULES[name]
    parameters = [p for p in inspect.signature(rule_class.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(parameters))
    if unknown:
        raise ConfigError(f"rule {name!r} has no parameter(s) {unknown}; allowed parameters: {parameters}")
    return rule_class(**kwargs)
