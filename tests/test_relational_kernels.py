"""Transitive inference with an exception: task bookkeeping, exact kernel fits, and the facts of docs/method.md.

Naming: items are 0-based indices, names are 1-based (``I3`` is index 2). The facts of docs/method.md are stated for
the "mid" variant (9 items, I6 beats I4 = indices (5, 3)) at a small ridge; they hold for ridges from 0
up to about 1.7e-3 (above it the I3-vs-I6 flip moves below alpha 0.13). The tests use ``FACT_RIDGE``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lightning_clocks.cli import main as clocks_main
from lightning_clocks.errors import ConfigError
from lightning_clocks.relational.cli import parse_exception, ridge_grid_values, theory
from lightning_clocks.relational.kernels import (
    additive_features,
    conjunctive_features,
    conjunctivity,
    family_kernel,
    feature_pair_kernel,
    features_from_function,
    gradient_flow_gain,
    gradient_flow_predict,
    kappas_from_alpha,
    linear_kernel,
    mixed_features,
    ridge_predict,
)
from lightning_clocks.relational.task import (
    CATEGORIES,
    CROSS_SECTION,
    CYCLE,
    NO_GROUND_TRUTH,
    TOUCHING_CYCLE,
    TRAIN_REGULAR,
    VARIANTS,
    WITHIN_SECTION,
    TransitiveTask,
    item_index,
    item_name,
    pair_name,
)
from lightning_clocks.relational.theory import (
    category_accuracy,
    flip_alpha,
    pair_margin,
    pair_table,
    pair_table_for_kernel,
    pair_trajectory,
    phase_diagram,
    plot_phase_diagram,
)

FACT_RIDGE = 1e-3


def by_names(first: str, second: str) -> tuple[int, int]:
    """The 0-based pair of two 1-based item names."""
    return (item_index(first), item_index(second))


@pytest.fixture(scope="module")
def mid() -> TransitiveTask:
    """The "mid" variant: 9 items, I6 beats I4."""
    return TransitiveTask.from_variant("mid")


# --------------------------------------------------------------------------------------------- task


def test_names_are_one_based_and_round_trip() -> None:
    assert item_name(0) == "I1"
    assert item_index("I6") == 5
    assert item_index("i4") == 3
    assert pair_name((2, 5)) == "I3 vs I6"
    assert by_names("I6", "I4") == VARIANTS["mid"][1]


def test_variants_match_spec() -> None:
    assert TransitiveTask.from_variant("none") == TransitiveTask(9, None)
    assert TransitiveTask.from_variant("mid").exception == by_names("I6", "I4")
    assert TransitiveTask.from_variant("n11_mid") == TransitiveTask(11, by_names("I7", "I5"))
    assert TransitiveTask.from_variant("far") == TransitiveTask(11, by_names("I8", "I4"))
    assert TransitiveTask() == TransitiveTask.from_variant("mid")


def test_training_pairs_and_labels(mid: TransitiveTask) -> None:
    pairs = mid.training_pairs()
    labels = mid.training_labels()
    assert len(pairs) == 2 * (mid.num_items - 1) + 2
    assert dict(zip(pairs, labels, strict=True))[(0, 1)] == 1.0
    assert dict(zip(pairs, labels, strict=True))[(1, 0)] == -1.0
    assert dict(zip(pairs, labels, strict=True))[(5, 3)] == 1.0  # the exception's winner wins
    assert dict(zip(pairs, labels, strict=True))[(3, 5)] == -1.0
    assert labels.dtype == np.float64


def test_test_pairs_are_the_non_adjacent_pairs_but_the_exception(mid: TransitiveTask) -> None:
    expected = {(i, j) for i in range(9) for j in range(9) if abs(i - j) >= 2} - {(5, 3), (3, 5)}
    assert set(mid.test_pairs()) == expected
    assert not set(mid.test_pairs()) & set(mid.training_pairs())


def test_mid_categories(mid: TransitiveTask) -> None:
    assert mid.category(by_names("I6", "I4")) == CYCLE
    assert mid.category(by_names("I4", "I5")) == CYCLE  # adjacent pair inside the cycle span
    assert mid.category(by_names("I6", "I5")) == CYCLE
    assert mid.category(by_names("I3", "I4")) == TRAIN_REGULAR  # adjacent, touches the span from outside
    assert mid.category(by_names("I1", "I3")) == WITHIN_SECTION
    assert mid.category(by_names("I7", "I9")) == WITHIN_SECTION
    assert mid.category(by_names("I3", "I7")) == CROSS_SECTION
    assert mid.category(by_names("I3", "I6")) == TOUCHING_CYCLE
    assert mid.category(by_names("I4", "I7")) == TOUCHING_CYCLE
    assert mid.pairs_in(NO_GROUND_TRUTH) == []  # the only non-adjacent pair inside [I4, I6] is the exception
    counts = {category: len(mid.pairs_in(category)) for category in CATEGORIES}
    assert counts == {
        TRAIN_REGULAR: 12,
        CYCLE: 6,
        WITHIN_SECTION: 4,  # I1-I3, I7-I9, both orders
        CROSS_SECTION: 18,  # {I1, I2, I3} x {I7, I8, I9}, both orders
        TOUCHING_CYCLE: 32,  # I4: 5 partners, I5: 6, I6: 5, both orders
        NO_GROUND_TRUTH: 0,
    }
    assert sum(counts.values()) == 9 * 8


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_ordered_pair_has_exactly_one_category_and_consistent_labels(variant: str) -> None:
    task = TransitiveTask.from_variant(variant)
    for pair in task.all_pairs():
        category = task.category(pair)
        assert category in CATEGORIES
        assert task.category(pair[::-1]) == category  # categories do not depend on the order
        label = task.label(pair)
        assert (label is None) == (category == NO_GROUND_TRUTH)
        if label is not None:
            assert task.label(pair[::-1]) == -label
            assert label == (1.0 if (pair[0] < pair[1]) != task.is_exception(pair) else -1.0)


def test_far_variant_has_pairs_without_ground_truth() -> None:
    far = TransitiveTask.from_variant("far")  # I8 beats I4: span [3, 7]
    undetermined = far.pairs_in(NO_GROUND_TRUTH)
    assert by_names("I4", "I6") in undetermined
    assert by_names("I5", "I8") in undetermined
    assert by_names("I8", "I4") not in undetermined
    assert all(3 <= i <= 7 and 3 <= j <= 7 and abs(i - j) >= 2 for i, j in undetermined)
    assert len(undetermined) == 2 * (6 - 1)  # 6 non-adjacent pairs inside the span, less the exception


def test_no_exception_puts_every_test_pair_within_section() -> None:
    task = TransitiveTask.from_variant("none")
    assert {task.category(pair) for pair in task.test_pairs()} == {WITHIN_SECTION}
    assert {task.category(pair) for pair in task.training_pairs()} == {TRAIN_REGULAR}
    assert task.cycle_span is None
    assert task.describe() == "9 items, no exception"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_items": 2, "exception": None}, "num_items=2"),
        ({"num_items": 9.0, "exception": None}, "num_items=9.0"),
        ({"num_items": True, "exception": None}, "num_items=True"),
        ({"num_items": 9, "exception": (3, 5)}, "W must be ranked below L"),
        ({"num_items": 9, "exception": (4, 4)}, "W must be ranked below L"),
        ({"num_items": 9, "exception": (4, 3)}, "must not be adjacent"),
        ({"num_items": 9, "exception": (9, 3)}, "0..8"),
        ({"num_items": 9, "exception": (5, -1)}, "0..8"),
        ({"num_items": 9, "exception": (5, 3, 1)}, "pair (W, L)"),
        ({"num_items": 9, "exception": "53"}, "pair (W, L)"),
        ({"num_items": 9, "exception": (5.0, 3)}, "exception W=5.0"),
    ],
)
def test_bad_task_configuration_raises(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TransitiveTask(**kwargs)


def test_bad_names_pairs_variants_and_categories_raise(mid: TransitiveTask) -> None:
    with pytest.raises(ConfigError, match="variant='tiny'"):
        TransitiveTask.from_variant("tiny")
    for bad in ["6", "I0", "X3", "I"]:
        with pytest.raises(ConfigError, match="item="):
            item_index(bad)
    for bad_pair in [(3, 3), (0, 9), (-1, 2)]:
        with pytest.raises(ConfigError, match="pair="):
            mid.category(bad_pair)
    with pytest.raises(ConfigError, match="category='cyclic'"):
        mid.pairs_in("cyclic")


# --------------------------------------------------------------------------------------------- kernels


@pytest.mark.parametrize(("alpha", "kappa_d"), [(0.0, 0.0), (0.37, 0.0), (1.0, 0.0), (0.25, 0.3), (0.8, 0.6)])
def test_mixed_features_realise_the_family_kernel(mid: TransitiveTask, alpha: float, kappa_d: float) -> None:
    pairs = mid.all_pairs()
    features = mixed_features(pairs, mid.num_items, alpha, kappa_d)
    kappa_o, kappa_d_out = kappas_from_alpha(alpha, kappa_d)
    assert kappa_d_out == kappa_d
    assert conjunctivity(kappa_o, kappa_d) == pytest.approx(alpha, abs=1e-12)
    np.testing.assert_allclose(
        linear_kernel(features, features), family_kernel(pairs, pairs, kappa_o, kappa_d), atol=1e-12
    )


def test_family_kernel_values_and_named_endpoints() -> None:
    assert kappas_from_alpha(0.0) == (0.5, 0.0)  # additive: the linear kernel of [e_i; e_j]/sqrt(2)
    assert kappas_from_alpha(1.0) == (0.0, 0.0)  # fully conjunctive
    kernel = family_kernel([(0, 1)], [(0, 1), (0, 2), (2, 1), (1, 0), (1, 2), (2, 3)], 0.4, 0.1)
    np.testing.assert_allclose(kernel, [[1.0, 0.4, 0.4, 0.1, 0.1, 0.1]])  # opposite-slot sharing = kappa_d
    additive = additive_features([(0, 1), (0, 2), (1, 0)], 3)
    np.testing.assert_allclose(linear_kernel(additive, additive)[0], [1.0, 0.5, 0.0])
    conjunctive = conjunctive_features([(0, 1), (0, 2)], 3)
    np.testing.assert_allclose(linear_kernel(conjunctive, conjunctive), np.eye(2))


def primal_ridge(
    features_train: np.ndarray, features_test: np.ndarray, targets: np.ndarray, ridge: float
) -> np.ndarray:
    """Ridge regression solved directly in feature space (the min-norm least-squares fit when ridge is 0)."""
    if ridge == 0:
        weights = np.linalg.pinv(features_train) @ targets
    else:
        gram = features_train.T @ features_train + ridge * np.eye(features_train.shape[1])
        weights = np.linalg.solve(gram, features_train.T @ targets)
    return features_test @ weights


FEATURE_MAPS = {
    "additive": lambda pairs, n: additive_features(pairs, n),
    "conjunctive": lambda pairs, n: conjunctive_features(pairs, n),
    "mixed": lambda pairs, n: mixed_features(pairs, n, 0.3),
    "mixed_kappa_d": lambda pairs, n: mixed_features(pairs, n, 0.6, kappa_d=0.2),
}


@pytest.mark.parametrize("variant", ["mid", "far"])
@pytest.mark.parametrize("ridge", [0.0, 1e-3, 0.5])
@pytest.mark.parametrize("feature_map", sorted(FEATURE_MAPS))
def test_kernel_ridge_equals_the_primal_solve(variant: str, ridge: float, feature_map: str) -> None:
    task = TransitiveTask.from_variant(variant)
    train, pairs = task.training_pairs(), task.all_pairs()
    phi_train = FEATURE_MAPS[feature_map](train, task.num_items)
    phi_all = FEATURE_MAPS[feature_map](pairs, task.num_items)
    targets = task.training_labels()
    dual = ridge_predict(linear_kernel(phi_train, phi_train), linear_kernel(phi_all, phi_train), targets, ridge)
    np.testing.assert_allclose(dual, primal_ridge(phi_train, phi_all, targets, ridge), atol=1e-8)


def test_user_feature_map_equals_the_primal_solve(mid: TransitiveTask) -> None:
    table = np.random.default_rng(0).normal(size=(mid.num_items, mid.num_items, 7))

    def pair_vector(i: int, j: int) -> np.ndarray:
        return table[i, j]

    rows = pair_table_for_kernel(mid, feature_pair_kernel(pair_vector), 0.1)
    phi_train = features_from_function(mid.training_pairs(), pair_vector)
    phi_all = features_from_function(mid.all_pairs(), pair_vector)
    expected = primal_ridge(phi_train, phi_all, mid.training_labels(), 0.1)
    np.testing.assert_allclose([row["output"] for row in rows], expected, atol=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 0.2, 0.7])
def test_family_outputs_are_antisymmetric(mid: TransitiveTask, alpha: float) -> None:
    outputs = {row["pair"]: row["output"] for row in pair_table(mid, alpha, FACT_RIDGE)}
    for (i, j), output in outputs.items():
        assert output == pytest.approx(-outputs[(j, i)], abs=1e-10)


# --------------------------------------------------------------------------------------------- gradient flow


@pytest.mark.parametrize(("alpha", "ridge"), [(0.0, 0.0), (0.3, 0.0), (0.3, 0.05), (1.0, 0.2)])
def test_gradient_flow_starts_at_zero_and_ends_at_the_ridge_solution(
    mid: TransitiveTask, alpha: float, ridge: float
) -> None:
    trajectory = pair_trajectory(mid, alpha, ridge, [0.0, 1e5])
    final = [row["output"] for row in pair_table(mid, alpha, ridge)]
    np.testing.assert_array_equal(trajectory[0], 0.0)
    np.testing.assert_allclose(trajectory[1], final, atol=1e-8)


def test_gradient_flow_gain_handles_zero_rate() -> None:
    np.testing.assert_allclose(gradient_flow_gain(np.array([0.0, 2.0]), 0.0, 3.0), [3.0, (1 - np.exp(-6.0)) / 2.0])


def test_gradient_flow_matches_explicit_euler(mid: TransitiveTask) -> None:
    alpha, ridge, time, step = 0.3, 0.05, 1.5, 2e-4
    train, pairs = mid.training_pairs(), mid.all_pairs()
    phi_train = mixed_features(train, mid.num_items, alpha)
    phi_all = mixed_features(pairs, mid.num_items, alpha)
    targets = mid.training_labels()
    weights = np.zeros(phi_train.shape[1])
    for _ in range(round(time / step)):  # gradient of 1/2 |Phi w - y|^2 + ridge/2 |w|^2
        weights -= step * (phi_train.T @ (phi_train @ weights - targets) + ridge * weights)
    exact = gradient_flow_predict(
        linear_kernel(phi_train, phi_train), linear_kernel(phi_all, phi_train), targets, ridge, [time]
    )[0]
    np.testing.assert_allclose(phi_all @ weights, exact, atol=1e-4)  # Euler error is O(step): 2.4e-5 here
    assert np.abs(exact).max() > 0.5  # the flow has moved far from 0 by then


def test_bad_fit_inputs_raise(mid: TransitiveTask) -> None:
    gram, targets = np.eye(4), np.ones(4)
    for ridge in [-1e-3, float("nan"), float("inf"), True]:
        with pytest.raises(ConfigError, match="ridge="):
            ridge_predict(gram, gram, targets, ridge)
    with pytest.raises(ConfigError, match="times="):
        gradient_flow_predict(gram, gram, targets, 0.0, [0.0, -1.0])
    with pytest.raises(ConfigError, match="kernel shapes"):
        ridge_predict(gram, np.ones((2, 3)), targets, 0.1)
    with pytest.raises(ConfigError, match="kernel shapes"):
        ridge_predict(np.eye(3), np.ones((2, 3)), targets, 0.1)
    for alpha in [-0.1, 1.5, float("nan"), "0.5"]:
        with pytest.raises(ConfigError, match="alpha="):
            kappas_from_alpha(alpha)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="alpha="):
            pair_table(mid, alpha, FACT_RIDGE)  # type: ignore[arg-type]
    for kappa_d in [-0.1, 1.0]:
        with pytest.raises(ConfigError, match="kappa_d="):
            kappas_from_alpha(0.5, kappa_d)
        with pytest.raises(ConfigError, match="kappa_d="):
            mixed_features([(0, 1)], 3, 0.5, kappa_d)
    with pytest.raises(ConfigError, match=r"kappa_o=0\.8"):
        conjunctivity(0.8, 0.0)  # alpha would be negative: not positive semi-definite
    with pytest.raises(ConfigError, match=r"kappa_o=0\.1"):
        family_kernel([(0, 1)], [(0, 1)], 0.1, 0.2)  # kappa_o < kappa_d: alpha > 1
    for features in (additive_features, conjunctive_features):
        with pytest.raises(ConfigError, match=r"outside 0\.\.2"):
            features([(0, 3)], 3)
    with pytest.raises(ConfigError, match="pair_vector"):
        features_from_function([(0, 1), (1, 2)], lambda i, j: np.ones(i + 1))


# --------------------------------------------------------------------------------------------- facts of docs/method.md


def test_additive_kernel_cannot_memorize_the_exception(mid: TransitiveTask) -> None:
    """alpha = 0: f(i, j) = s_i - s_j with equal scores s on the cycle items I4, I5, I6; all else stays ordered."""
    exact = {row["pair"]: row for row in pair_table(mid, 0.0, 0.0)}
    cycle_items = range(3, 6)
    for i in cycle_items:
        for j in cycle_items:
            if i != j:
                assert abs(exact[(i, j)]["output"]) < 1e-9  # collapsed to one rank: every cycle answer is a tie
    for i, j, k in [(0, 4, 8), (1, 3, 6), (2, 5, 7)]:  # outputs are score differences
        assert exact[(i, k)]["output"] == pytest.approx(exact[(i, j)]["output"] + exact[(j, k)]["output"], abs=1e-9)
    accuracy = category_accuracy(list(exact.values()))
    assert accuracy[CYCLE] == 0.0
    assert {key: value for key, value in accuracy.items() if key != CYCLE} == dict.fromkeys(
        [TRAIN_REGULAR, WITHIN_SECTION, CROSS_SECTION, TOUCHING_CYCLE], 1.0
    )
    # At the small ridge the cycle outputs are O(ridge), and they cannot all be right: the three cycle
    # margins f(I4,I5) + f(I5,I6) + f(I6,I4) are score differences around a loop and sum to zero.
    rows = {row["pair"]: row for row in pair_table(mid, 0.0, FACT_RIDGE)}
    loop = [by_names("I4", "I5"), by_names("I5", "I6"), by_names("I6", "I4")]
    assert sum(rows[pair]["margin"] for pair in loop) == pytest.approx(0.0, abs=1e-12)
    assert all(abs(rows[pair]["margin"]) < 10 * FACT_RIDGE for pair in loop)
    assert category_accuracy(list(rows.values()))[CYCLE] < 1.0
    outside = [row for row in rows.values() if row["category"] not in (CYCLE, NO_GROUND_TRUTH)]
    assert all(row["correct"] for row in outside)


@pytest.mark.parametrize("alpha", [1e-3, 0.01, 0.1, 0.5, 0.99, 1.0])
def test_any_conjunctivity_memorizes_the_exception(mid: TransitiveTask, alpha: float) -> None:
    exact = pair_table(mid, alpha, 0.0)
    for row in exact:
        if row["category"] in (CYCLE, TRAIN_REGULAR):
            assert row["margin"] == pytest.approx(1.0, abs=1e-6)  # interpolates every training pair
    if alpha >= 0.01:
        small_ridge = category_accuracy(pair_table(mid, alpha, FACT_RIDGE))
        assert small_ridge[CYCLE] == 1.0
        assert small_ridge[TRAIN_REGULAR] == 1.0


@pytest.mark.parametrize(("first", "second"), [("I3", "I6"), ("I4", "I7")])
def test_touching_pairs_flip_between_alpha_013_and_014(mid: TransitiveTask, first: str, second: str) -> None:
    pair = by_names(first, second)
    for alpha in [0.0, 0.05, 0.1, 0.125, 0.1299]:
        assert pair_margin(mid, pair, alpha, FACT_RIDGE) > 0, alpha
    for alpha in [0.1401, 0.15, 0.2, 0.33, 0.5, 0.9, 0.99]:
        assert pair_margin(mid, pair, alpha, FACT_RIDGE) < 0, alpha
    assert 0.13 < flip_alpha(mid, pair, FACT_RIDGE) < 0.14


def test_cross_section_i3_i7_flips_between_alpha_033_and_034(mid: TransitiveTask) -> None:
    pair = by_names("I3", "I7")
    assert mid.category(pair) == CROSS_SECTION
    for alpha in [0.0, 0.1, 0.2, 0.3, 0.3299]:
        assert pair_margin(mid, pair, alpha, FACT_RIDGE) > 0, alpha
    for alpha in [0.3401, 0.4, 0.6, 0.9, 0.99]:
        assert pair_margin(mid, pair, alpha, FACT_RIDGE) < 0, alpha
    assert 0.33 < flip_alpha(mid, pair, FACT_RIDGE) < 0.34


def test_flip_points_reach_their_ridge_free_limits(mid: TransitiveTask) -> None:
    assert flip_alpha(mid, by_names("I3", "I6"), 0.0) == pytest.approx(0.1315, abs=1e-4)
    assert flip_alpha(mid, by_names("I4", "I7"), 0.0) == pytest.approx(0.1315, abs=1e-4)
    assert flip_alpha(mid, by_names("I3", "I7"), 0.0) == pytest.approx(1 / 3, abs=1e-5)


def test_within_section_pairs_and_i1_i3_stay_right_for_every_alpha_below_one(mid: TransitiveTask) -> None:
    alphas = np.concatenate([np.linspace(0.0, 0.99, 100), [0.999]])
    diagram = phase_diagram(mid, alphas, [FACT_RIDGE])
    assert np.all(diagram[:, 0, CATEGORIES.index(WITHIN_SECTION)] == 1.0)
    assert np.all(diagram[:, 0, CATEGORIES.index(TRAIN_REGULAR)] == 1.0)
    assert np.all(diagram[1:, 0, CATEGORIES.index(CYCLE)] == 1.0)  # every alpha > 0 memorizes the cycle
    for alpha in alphas:
        assert pair_margin(mid, by_names("I1", "I3"), float(alpha), FACT_RIDGE) > 0, alpha
    assert pair_margin(mid, by_names("I1", "I3"), 1.0, FACT_RIDGE) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.2, 0.3])
def test_stronger_ridge_erodes_memorization_before_the_rule(mid: TransitiveTask, alpha: float) -> None:
    """Raising the ridge loses the cycle while the trained regular pairs and within-section pairs stay right.

    (For alpha >= 1/3 the cycle survives every ridge: at large ridge f is proportional to K y, whose
    value at I4-vs-I5 is 1 - 3 kappa_o > 0 exactly when alpha > 1/3.)
    """
    ridges = np.logspace(-4, 4, 81)
    diagram = phase_diagram(mid, [alpha], ridges)[0]
    cycle = diagram[:, CATEGORIES.index(CYCLE)]
    assert cycle[0] == 1.0
    assert cycle[-1] < 1.0
    lost = int(np.argmax(cycle < 1.0))
    assert np.all(cycle[lost:] < 1.0)  # once lost, memorization does not come back
    assert np.all(diagram[:, CATEGORIES.index(TRAIN_REGULAR)] == 1.0)
    assert np.all(diagram[:, CATEGORIES.index(WITHIN_SECTION)] == 1.0)


def test_smallest_alpha_loses_the_cycle_before_any_test_category(mid: TransitiveTask) -> None:
    ridges = np.logspace(-4, 4, 81)
    diagram = phase_diagram(mid, [0.01], ridges)[0]
    first_loss = {category: int(np.argmax(diagram[:, c] < 1.0)) for c, category in enumerate(CATEGORIES[:5])}
    assert first_loss[CYCLE] < min(first_loss[CROSS_SECTION], first_loss[TOUCHING_CYCLE])


def test_phase_diagram_shape_and_empty_categories(mid: TransitiveTask) -> None:
    diagram = phase_diagram(mid, [0.0, 0.5, 1.0], [1e-3, 1.0])
    assert diagram.shape == (3, 2, len(CATEGORIES))
    assert np.all(np.isnan(diagram[:, :, CATEGORIES.index(NO_GROUND_TRUTH)]))
    with pytest.raises(ConfigError, match="ridge="):
        phase_diagram(mid, [0.5], [-1.0])


def test_pair_without_ground_truth_has_no_margin() -> None:
    far = TransitiveTask.from_variant("far")
    rows = {row["pair"]: row for row in pair_table(far, 0.2, FACT_RIDGE)}
    assert rows[by_names("I4", "I6")]["margin"] is None
    assert rows[by_names("I4", "I6")]["correct"] is None
    assert NO_GROUND_TRUTH not in category_accuracy(list(rows.values()))
    with pytest.raises(ConfigError, match="no ground truth"):
        pair_margin(far, by_names("I4", "I6"), 0.2, FACT_RIDGE)


# --------------------------------------------------------------------------------------------- command


def test_main_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert theory(["--variant", "mid", "--alpha", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "9 items, exception I6 beats I4" in out
    assert "I3 vs I6" in out
    assert "cycle*" in out
    assert "within-section" in out


def test_main_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        theory(["--num_items", "11", "--exception", "I8,I4", "--alpha", "0.5", "--ridge", "0.01", "--output=json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["task"]["exception"] == [7, 3]
    assert result["kappa_o"] == pytest.approx(0.25)
    assert len(result["pairs"]) == 11 * 10
    assert set(result["accuracy"]) <= set(CATEGORIES)
    assert any(row["label"] is None for row in result["pairs"])


def test_main_draws_the_phase_diagram(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "phase.png"
    assert theory([f"--phase_diagram={path}", "--alpha_grid=6", "--ridge_grid=[1e-3,1,4]", "--output=json"]) == 0
    assert json.loads(capsys.readouterr().out)["phase_diagram"] == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_line_errors_name_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["--variant", "mid", "--num_items", "9"], "variant='mid' cannot be combined"),
        (["--exception", "3,5"], "W must be ranked below L"),
        (["--exception", "5;3"], "exception='5;3'"),
        (["--num_items", "2"], "num_items=2"),
        (["--alpha", "1.5"], "alpha=1.5"),
        (["--ridge", "-1"], "ridge=-1.0"),
        ([f"--phase_diagram={tmp_path / 'p.png'}", "--alpha_grid", "1"], "alpha_grid=1"),
        ([f"--phase_diagram={tmp_path / 'p.png'}", "--ridge_grid=[1,0.1,5]"], "ridge_grid=[1.0, 0.1, 5]"),
        (["--variant", "middle"], "variant='middle' is unknown"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            clocks_main(["ti", *argv])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


def test_argument_parsers() -> None:
    assert parse_exception("5,3") == (5, 3)
    assert parse_exception("I6, I4") == (5, 3)
    assert parse_exception("None") is None
    with pytest.raises(ConfigError, match="exception='5,I4'"):
        parse_exception("5,I4")
    np.testing.assert_allclose(ridge_grid_values((1e-2, 1, 3)), [1e-2, 1e-1, 1.0])
    for bad in [(0, 1, 3), (1e-2, 1, 1), (1, 0.1, 5)]:
        with pytest.raises(ConfigError, match="ridge_grid="):
            ridge_grid_values(bad)
    with pytest.raises(ConfigError, match="phase diagram grid"):
        plot_phase_diagram(TransitiveTask(), [0.5], [1e-3, 1.0], "unused.png")
