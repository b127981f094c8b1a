"""Pair representations, the (kappa_o, kappa_d) kernel family, and exact kernel ridge / gradient-flow solutions.

A pair ``(i, j)`` of items out of ``n`` is represented, in the additive code, by ``[e_i ; e_j] / sqrt(2)``
(``e_i`` one-hot in ``R^n``). The kernel family (docs/method.md, "Transitive inference") compares two ordered pairs
``(i, j)`` and ``(k, l)``:

- ``1`` for the same ordered pair;
- ``kappa_o`` when they share an item in the same slot (``i == k`` or ``j == l``, not both);
- ``kappa_d`` otherwise. *Convention:* sharing an item only in the opposite slot (``i == l`` or
  ``j == k``, including the reversed pair ``(j, i)``) also gives ``kappa_d``. This is what the
  additive code's linear kernel does (``[e_i; e_j] . [e_j; e_i] = 0`` for ``i != j``), and it is the
  convention under which the facts of docs/method.md hold (with ``kappa_o`` there instead, every test
  output is zero).

Conjunctivity ``alpha = (1 + kappa_d - 2 kappa_o) / (1 - kappa_d)``: 0 is additive (the linear kernel of
the additive code: ``kappa_o = 1/2``, ``kappa_d = 0``), 1 fully conjunctive (``kappa_o = kappa_d``). Every
member is ``kappa_d + (1 - kappa_d) [(1 - alpha) k_add + alpha k_conj]``, the linear kernel of
:func:`mixed_features`, so it is positive semi-definite exactly for ``0 <= kappa_d < 1``, ``0 <= alpha <= 1``.

**Model output.** The model output for ``(i, j)`` is the plain regression function ``f(i, j)``, not
``f(i, j) - f(j, i)``: training holds both orders with opposite labels, and every family kernel is
unchanged when both pairs are swapped, so the fitted ``f`` is exactly antisymmetric already. (A user
feature map without that symmetry gets no such guarantee; its ``f`` is used as it is.)

**Fits.** With training Gram matrix ``K`` (``m x m``), test-train kernel ``k(X*, X)`` and targets ``y``:

- ridge: ``f(X*) = k(X*, X) (K + ridge I)^-1 y`` (for ``ridge == 0`` the minimum-norm interpolant,
  with the pseudo-inverse);
- gradient flow from ``w = 0`` on ``L(w) = 1/2 sum_a (f(x_a) - y_a)^2 + ridge/2 |w|^2`` (sum, not mean,
  over the ``m`` training pairs; a mean loss is the same flow with time ``t/m`` and ridge ``m * ridge``):
  writing ``w_t = Phi^T a_t`` gives ``da/dt = y - (K + ridge I) a``, so with ``K = U diag(lam) U^T``,
  ``f_t(X*) = k(X*, X) U diag(g_t(lam)) U^T y`` where ``g_t(lam) = (1 - exp(-(lam + ridge) t)) / (lam + ridge)``
  (``= t`` when ``lam + ridge = 0``). Directions with ``lam = 0`` (numerically: below a relative
  tolerance) do not reach any output, because ``k(x*, X) u = phi(x*) . Phi^T u = 0`` there, so they are
  dropped. As ``t -> inf`` this is the ridge solution; at ``t = 0`` it is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lightning_clocks.errors import ConfigError

Pair = tuple[int, int]
#: A user representation: the feature vector of one ordered pair ``(i, j)``.
PairVectorFn = Callable[[int, int], np.ndarray]
#: A kernel on pairs: ``kernel(pairs_a, pairs_b) -> float64 array [len(pairs_a), len(pairs_b)]``.
PairKernel = Callable[[Sequence[Pair], Sequence[Pair]], np.ndarray]

#: Eigenvalues of K below this fraction of the largest one (times m) count as zero.
EIGEN_RTOL = 1e-12


# --------------------------------------------------------------------------------------------- kernel family


def conjunctivity(kappa_o: float, kappa_d: float) -> float:
    """The conjunctivity ``alpha = (1 + kappa_d - 2 kappa_o) / (1 - kappa_d)`` of a family member.

    Allowed: ``0 <= kappa_d < 1`` and ``kappa_d <= kappa_o <= (1 + kappa_d) / 2`` (so ``0 <= alpha <= 1``:
    the kernel is positive semi-definite).
    """
    if not (_is_real(kappa_d) and 0.0 <= kappa_d < 1.0):
        raise ConfigError(f"kappa_d={kappa_d!r} is out of range: need 0 <= kappa_d < 1")
    if not _is_real(kappa_o) or not kappa_d <= kappa_o <= (1.0 + kappa_d) / 2.0:
        raise ConfigError(
            f"kappa_o={kappa_o!r} is out of range for kappa_d={kappa_d!r}: need kappa_d <= kappa_o <= (1 + kappa_d)/2 "
            f"= {(1.0 + kappa_d) / 2.0}"
        )
    return (1.0 + kappa_d - 2.0 * kappa_o) / (1.0 - kappa_d)


def kappas_from_alpha(alpha: float, kappa_d: float = 0.0) -> tuple[float, float]:
    """The family member ``(kappa_o, kappa_d)`` with conjunctivity ``alpha`` and the given ``kappa_d``.

    ``kappa_o = kappa_d + (1 - kappa_d)(1 - alpha)/2``; with ``kappa_d = 0`` that is ``(1 - alpha)/2``.
    Allowed: ``0 <= alpha <= 1``, ``0 <= kappa_d < 1``.
    """
    check_alpha(alpha)
    if not (_is_real(kappa_d) and 0.0 <= kappa_d < 1.0):
        raise ConfigError(f"kappa_d={kappa_d!r} is out of range: need 0 <= kappa_d < 1")
    return (kappa_d + (1.0 - kappa_d) * (1.0 - alpha) / 2.0, kappa_d)


def _is_real(value: object) -> bool:
    """Whether ``value`` is a real number (int or float, numpy included; bools excluded)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_alpha(alpha: float) -> float:
    """Return ``alpha`` if it is a conjunctivity in ``[0, 1]``, else raise :class:`ConfigError`."""
    if not (_is_real(alpha) and 0.0 <= float(alpha) <= 1.0):
        raise ConfigError(f"alpha={alpha!r} is out of range: the conjunctivity must lie in [0, 1]")
    return float(alpha)


def _pair_columns(pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray]:
    """First and second items of ``pairs`` as two int arrays."""
    array = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return array[:, 0], array[:, 1]


def family_kernel(pairs_a: Sequence[Pair], pairs_b: Sequence[Pair], kappa_o: float, kappa_d: float) -> np.ndarray:
    """The family kernel matrix ``[len(pairs_a), len(pairs_b)]``: 1 same pair, kappa_o same-slot share, else kappa_d."""
    conjunctivity(kappa_o, kappa_d)  # validates the pair of values
    first_a, second_a = _pair_columns(pairs_a)
    first_b, second_b = _pair_columns(pairs_b)
    same_first = first_a[:, None] == first_b[None, :]
    same_second = second_a[:, None] == second_b[None, :]
    kernel = np.full(same_first.shape, kappa_d, dtype=np.float64)
    kernel[same_first ^ same_second] = kappa_o
    kernel[same_first & same_second] = 1.0
    return kernel


def family_pair_kernel(alpha: float, kappa_d: float = 0.0) -> PairKernel:
    """The family kernel with conjunctivity ``alpha`` (and ``kappa_d``) as a :data:`PairKernel`."""
    kappa_o, kappa_d = kappas_from_alpha(alpha, kappa_d)

    def kernel(pairs_a: Sequence[Pair], pairs_b: Sequence[Pair]) -> np.ndarray:
        return family_kernel(pairs_a, pairs_b, kappa_o, kappa_d)

    return kernel


# --------------------------------------------------------------------------------------------- feature maps


def _check_pairs(pairs: Sequence[Pair], num_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Item columns of ``pairs`` after checking every index lies in ``0..num_items-1``."""
    first, second = _pair_columns(pairs)
    if first.size and (min(first.min(), second.min()) < 0 or max(first.max(), second.max()) >= num_items):
        raise ConfigError(f"pairs contain an item outside 0..{num_items - 1} (num_items={num_items})")
    return first, second


def additive_features(pairs: Sequence[Pair], num_items: int) -> np.ndarray:
    """The additive code ``[e_i ; e_j] / sqrt(2)`` of each pair: ``[len(pairs), 2 * num_items]``."""
    first, second = _check_pairs(pairs, num_items)
    features = np.zeros((len(first), 2 * num_items), dtype=np.float64)
    rows = np.arange(len(first))
    features[rows, first] = 1.0 / np.sqrt(2.0)
    features[rows, num_items + second] = 1.0 / np.sqrt(2.0)
    return features


def conjunctive_features(pairs: Sequence[Pair], num_items: int) -> np.ndarray:
    """The fully conjunctive code: a one-hot of the ordered pair, ``[len(pairs), num_items ** 2]``."""
    first, second = _check_pairs(pairs, num_items)
    features = np.zeros((len(first), num_items * num_items), dtype=np.float64)
    features[np.arange(len(first)), first * num_items + second] = 1.0
    return features


def mixed_features(pairs: Sequence[Pair], num_items: int, alpha: float, kappa_d: float = 0.0) -> np.ndarray:
    """A code whose linear kernel is the family member with conjunctivity ``alpha`` and ``kappa_d``.

    The weighted concatenation ``[sqrt(kappa_d) ; sqrt((1-kappa_d)(1-alpha)) additive ;
    sqrt((1-kappa_d) alpha) conjunctive]``: a constant feature, the additive and the conjunctive code.
    """
    kappas_from_alpha(alpha, kappa_d)  # validates alpha and kappa_d
    constant = np.full((len(pairs), 1), np.sqrt(kappa_d), dtype=np.float64)
    additive = np.sqrt((1.0 - kappa_d) * (1.0 - alpha)) * additive_features(pairs, num_items)
    conjunctive = np.sqrt((1.0 - kappa_d) * alpha) * conjunctive_features(pairs, num_items)
    return np.concatenate([constant, additive, conjunctive], axis=1)


def features_from_function(pairs: Sequence[Pair], pair_vector: PairVectorFn) -> np.ndarray:
    """Stack a user representation ``pair_vector(i, j) -> 1-D vector`` into ``[len(pairs), d]`` float64."""
    vectors = [np.asarray(pair_vector(int(i), int(j)), dtype=np.float64) for i, j in pairs]
    if not vectors:
        return np.zeros((0, 0), dtype=np.float64)
    if any(vector.ndim != 1 or vector.shape != vectors[0].shape for vector in vectors):
        raise ConfigError("pair_vector must return 1-D vectors of one common length for every pair")
    return np.stack(vectors)


def linear_kernel(features_a: np.ndarray, features_b: np.ndarray) -> np.ndarray:
    """The linear kernel ``features_a @ features_b.T`` of two feature matrices."""
    return np.asarray(features_a, dtype=np.float64) @ np.asarray(features_b, dtype=np.float64).T


def feature_pair_kernel(pair_vector: PairVectorFn) -> PairKernel:
    """The linear kernel of a user representation ``pair_vector(i, j)`` as a :data:`PairKernel`."""

    def kernel(pairs_a: Sequence[Pair], pairs_b: Sequence[Pair]) -> np.ndarray:
        return linear_kernel(features_from_function(pairs_a, pair_vector), features_from_function(pairs_b, pair_vector))

    return kernel


# --------------------------------------------------------------------------------------------- exact fits


def check_ridge(ridge: float) -> float:
    """Return ``ridge`` if it is a finite number ``>= 0``, else raise :class:`ConfigError`."""
    if not (_is_real(ridge) and np.isfinite(ridge) and ridge >= 0):
        raise ConfigError(f"ridge={ridge!r} is invalid: the ridge (weight decay) must be a finite number >= 0")
    return float(ridge)


def _check_shapes(k_train: np.ndarray, k_test_train: np.ndarray, targets: np.ndarray) -> None:
    """Raise :class:`ConfigError` unless K is square m x m, k(X*, X) has m columns and y has m entries."""
    m = targets.shape[0]
    if targets.ndim != 1 or k_train.shape != (m, m) or k_test_train.ndim != 2 or k_test_train.shape[1] != m:
        raise ConfigError(
            f"kernel shapes do not fit: K {k_train.shape}, k(X*, X) {k_test_train.shape}, y {targets.shape}; "
            "need K [m, m], k(X*, X) [m*, m], y [m]"
        )


def _spectral_outputs(
    k_train: np.ndarray, k_test_train: np.ndarray, targets: np.ndarray, gain: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """``k(X*, X) U diag(gain(lam)) U^T y`` over the eigen-directions of K with non-zero eigenvalue."""
    k_train = np.asarray(k_train, dtype=np.float64)
    k_test_train = np.asarray(k_test_train, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    _check_shapes(k_train, k_test_train, targets)
    eigenvalues, eigenvectors = np.linalg.eigh((k_train + k_train.T) / 2.0)
    scale = max(float(eigenvalues.max(initial=0.0)), np.finfo(np.float64).tiny)
    keep = eigenvalues > EIGEN_RTOL * scale * max(len(targets), 1)
    basis = eigenvectors[:, keep]
    coefficients = basis @ (gain(eigenvalues[keep]) * (basis.T @ targets))
    return k_test_train @ coefficients


def ridge_predict(k_train: np.ndarray, k_test_train: np.ndarray, targets: np.ndarray, ridge: float) -> np.ndarray:
    """Exact kernel ridge outputs ``k(X*, X) (K + ridge I)^-1 y`` (pseudo-inverse limit when ``ridge == 0``)."""
    ridge = check_ridge(ridge)
    return _spectral_outputs(k_train, k_test_train, targets, lambda lam: 1.0 / (lam + ridge))


def gradient_flow_gain(eigenvalues: np.ndarray, ridge: float, time: float) -> np.ndarray:
    """The spectral gain ``(1 - exp(-(lam + ridge) t)) / (lam + ridge)`` of gradient flow, ``t`` at rate 0."""
    rate = np.asarray(eigenvalues, dtype=np.float64) + ridge
    safe_rate = np.where(rate > 0, rate, 1.0)
    return np.where(rate > 0, -np.expm1(-safe_rate * time) / safe_rate, float(time))


def gradient_flow_predict(
    k_train: np.ndarray, k_test_train: np.ndarray, targets: np.ndarray, ridge: float, times: Sequence[float]
) -> np.ndarray:
    """Exact gradient-flow outputs at each time: ``[len(times), m*]`` (loss and time as in the module docstring)."""
    ridge = check_ridge(ridge)
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if times.ndim != 1 or not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ConfigError(f"times={times.tolist()!r} is invalid: need finite training times >= 0")
    return np.stack(
        [
            _spectral_outputs(k_train, k_test_train, targets, lambda lam, t=t: gradient_flow_gain(lam, ridge, t))
            for t in times
        ]
    )


def margins(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Signed margins ``f * label``: positive exactly when the model's answer is right."""
    return np.asarray(outputs, dtype=np.float64) * np.asarray(labels, dtype=np.float64)
