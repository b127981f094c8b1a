"""Transitive inference with an exception: the task and its exact kernel theory (numpy only).

Definitions: docs/method.md, "Transitive inference".
"""

from lightning_clocks.relational.kernels import (
    additive_features,
    conjunctive_features,
    conjunctivity,
    family_kernel,
    gradient_flow_predict,
    kappas_from_alpha,
    mixed_features,
    ridge_predict,
)
from lightning_clocks.relational.task import CATEGORIES, VARIANTS, TransitiveTask, item_index, item_name, pair_name
from lightning_clocks.relational.theory import category_accuracy, flip_alpha, pair_table, phase_diagram

__all__ = [
    "CATEGORIES",
    "VARIANTS",
    "TransitiveTask",
    "additive_features",
    "category_accuracy",
    "conjunctive_features",
    "conjunctivity",
    "family_kernel",
    "flip_alpha",
    "gradient_flow_predict",
    "item_index",
    "item_name",
    "kappas_from_alpha",
    "mixed_features",
    "pair_name",
    "pair_table",
    "phase_diagram",
    "ridge_predict",
]
