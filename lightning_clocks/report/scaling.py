"""Scaling laws over a sweep, as pure functions (docs/method.md, "Scaling").

- ``fit_power_law(N, tau_mem)``: least squares ``log10 tau_mem = a + b log10 N`` with the slope's
  confidence interval from Student's t distribution (expected b near 1);
- ``fit_line(log10 N, window)``: window width (log10 steps) against log10 N, and
  ``vanishing_point`` the N at which the fitted width reaches zero;
- ``window_map``: the fraction of runs with an open window at each (N, complexity) cell;
- ``fit_censored``: the same regression with runs whose clock never crossed kept as lower bounds at their
  last step (a Tobit model on log10 tau, by maximum likelihood), and its prediction interval for unseen N.

Student's t quantile is computed here (no SciPy): the t CDF via the regularized incomplete beta
function (a continued fraction), inverted by bisection. The censored fit needs SciPy (the ``report``
extra), imported when it is first called.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lightning_clocks.errors import ConfigError

_BETA_EPSILON = 1e-15
_BETA_MAX_TERMS = 500


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz), converging for x < (a+1)/(a+b+2)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, _BETA_MAX_TERMS + 1):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < _BETA_EPSILON:
            return result
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the CDF of a Beta(a, b) variable at ``x`` in [0, 1]."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x={x} must lie in [0, 1]")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"df={df} must be positive")
    tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(probability: float, df: float) -> float:
    """The ``probability`` quantile of Student's t with ``df`` degrees of freedom (e.g. 0.975, 10 -> 2.228)."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability={probability} must lie in (0, 1)")
    if probability < 0.5:
        return -t_quantile(1.0 - probability, df)
    low, high = 0.0, 1.0
    while student_t_cdf(high, df) < probability:
        low, high = high, 2.0 * high
    for _ in range(200):
        middle = 0.5 * (low + high)
        if student_t_cdf(middle, df) < probability:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


@dataclass(frozen=True)
class LineFit:
    """Least-squares line ``y = intercept + slope * x`` with the slope's confidence interval.

    ``slope_interval`` is ``None`` with fewer than three points (no degrees of freedom left).
    """

    intercept: float
    slope: float
    slope_stderr: float | None
    slope_interval: tuple[float, float] | None
    confidence: float
    num_points: int
    r_squared: float | None

    def predict(self, x: float) -> float:
        return self.intercept + self.slope * x

    def root(self) -> float | None:
        """The x at which the fitted line crosses zero; ``None`` for a flat line."""
        return None if self.slope == 0 else -self.intercept / self.slope


def fit_line(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> LineFit:
    """Ordinary least squares of ``y`` on ``x`` with a two-sided ``confidence`` interval on the slope."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1-D and of equal length, got {xs.shape} and {ys.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} must lie in (0, 1)")
    if xs.size < 2 or np.ptp(xs) == 0:
        raise ValueError(f"a line needs at least two distinct x values, got {xs.tolist()}")
    x_centred, y_centred = xs - xs.mean(), ys - ys.mean()
    sxx = float(x_centred @ x_centred)
    slope = float(x_centred @ y_centred) / sxx
    intercept = float(ys.mean() - slope * xs.mean())
    residual = ys - (intercept + slope * xs)
    total = float(y_centred @ y_centred)
    r_squared = 1.0 - float(residual @ residual) / total if total > 0 else None
    degrees_of_freedom = xs.size - 2
    if degrees_of_freedom < 1:
        return LineFit(intercept, slope, None, None, confidence, int(xs.size), r_squared)
    stderr = math.sqrt(float(residual @ residual) / degrees_of_freedom / sxx)
    half_width = t_quantile(0.5 + confidence / 2.0, degrees_of_freedom) * stderr
    interval = (slope - half_width, slope + half_width)
    return LineFit(intercept, slope, stderr, interval, confidence, int(xs.size), r_squared)


def fit_power_law(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> LineFit:
    """Fit ``log10 y = a + b log10 x`` (b is the power law's exponent); every value must be positive."""
    if any(value <= 0 for value in (*x, *y)):
        raise ValueError("a power law fit needs positive x and y values")
    return fit_line(np.log10(x), np.log10(y), confidence)


def vanishing_point(width_fit: LineFit) -> float | None:
    """The N at which a fit of window width against log10 N reaches zero width (``None`` for a flat fit)."""
    root = width_fit.root()
    return None if root is None else float(10**root)


def window_map(points: Iterable[tuple[float, float, bool]]) -> dict[tuple[float, float], float]:
    """``(N, complexity, window_open)`` per run -> the fraction of runs with an open window per (N, complexity)."""
    cells: dict[tuple[float, float], list[bool]] = defaultdict(list)
    for n_train, complexity, window_open in points:
        cells[(n_train, complexity)].append(window_open)
    return {cell: sum(flags) / len(flags) for cell, flags in sorted(cells.items())}


@dataclass(frozen=True)
class CensoredFit:
    """A Tobit regression ``y = X beta + e``, e ~ N(0, sigma²), where some y are only known to exceed a bound.

    ``covariance`` is the inverse observed information of ``coefficients``, scaled by n / (n - k) with t quantiles
    on n - k degrees of freedom: with nothing censored, the slope interval and the prediction interval are then
    exactly those of ordinary least squares.
    """

    coefficients: tuple[float, ...]
    sigma: float
    covariance: np.ndarray
    confidence: float
    num_points: int
    num_censored: int

    @property
    def degrees_of_freedom(self) -> int:
        return self.num_points - len(self.coefficients)

    @property
    def slope(self) -> float:
        """The coefficient of the second column (log10 N in the power law)."""
        return self.coefficients[1]

    @property
    def slope_interval(self) -> tuple[float, float]:
        half_width = self._quantile() * math.sqrt(float(self.covariance[1, 1]))
        return (self.slope - half_width, self.slope + half_width)

    def _quantile(self) -> float:
        return t_quantile(0.5 + self.confidence / 2.0, self.degrees_of_freedom)

    def predict(self, row: Sequence[float]) -> tuple[float, float, float]:
        """``(mean, low, high)`` of a new observation at design row ``row``: the fitted mean and its prediction
        interval (parameter uncertainty plus the scatter sigma of single runs)."""
        x = np.asarray(row, dtype=np.float64)
        mean = float(x @ np.asarray(self.coefficients))
        scale = self.num_points / self.degrees_of_freedom
        spread = math.sqrt(float(x @ self.covariance @ x) + self.sigma**2 * scale)
        half_width = self._quantile() * spread
        return mean, mean - half_width, mean + half_width


def _tobit_negative_log_likelihood(
    parameters: np.ndarray, design: np.ndarray, y: np.ndarray, censored: np.ndarray
) -> float:
    """-log L of the Tobit model with parameters (beta, log sigma): density terms for observed y, survival
    terms P(y* > bound) for censored ones."""
    from scipy.stats import norm

    beta, log_sigma = parameters[:-1], parameters[-1]
    sigma = math.exp(log_sigma)
    standardized = (y - design @ beta) / sigma
    observed = norm.logpdf(standardized[~censored]) - log_sigma
    bounds = norm.logsf(standardized[censored])
    return -float(observed.sum() + bounds.sum())


def _hessian(function: Any, point: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central finite-difference Hessian of a scalar function."""
    size = point.size
    hessian = np.empty((size, size))
    for i in range(size):
        for j in range(i, size):
            total = 0.0
            for sign_i, sign_j, weight in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                moved = point.copy()
                moved[i] += sign_i * step
                moved[j] += sign_j * step
                total += weight * function(moved)
            hessian[i, j] = hessian[j, i] = total / (4 * step * step)
    return hessian


def fit_censored(
    design: Sequence[Sequence[float]], y: Sequence[float], censored: Sequence[bool], confidence: float = 0.95
) -> CensoredFit:
    """Maximum-likelihood Tobit fit of ``y`` on the columns of ``design`` (first column ones); a censored ``y``
    is a lower bound (a clock that had not crossed by the run's last step). Needs SciPy when some are censored."""
    matrix, values, flags = np.asarray(design, dtype=np.float64), np.asarray(y, dtype=np.float64), np.asarray(censored)
    flags = flags.astype(bool)
    columns = matrix.shape[1]
    if matrix.shape[0] <= columns or (~flags).sum() < columns or np.linalg.matrix_rank(matrix[~flags]) < columns:
        raise ValueError(
            f"a censored fit of {columns} coefficients needs more than {columns} runs, {columns} of them crossed "
            f"at distinct values; got {matrix.shape[0]} runs, {(~flags).sum()} crossed"
        )
    rows = matrix.shape[0]
    scale = rows / (rows - columns)
    beta, *_ = np.linalg.lstsq(matrix[~flags], values[~flags], rcond=None)
    residual = values[~flags] - matrix[~flags] @ beta
    if not flags.any():  # the maximum-likelihood fit is least squares: closed form, no optimizer
        sigma = float(np.sqrt(np.mean(residual**2)))
        covariance = sigma**2 * scale * np.linalg.inv(matrix.T @ matrix)
        return CensoredFit(tuple(float(value) for value in beta), sigma, covariance, confidence, rows, 0)
    try:
        from scipy.optimize import minimize
    except ImportError:
        raise ConfigError(
            "the censored fit of clocks report needs scipy: pip install 'lightning-clocks[report]'"
        ) from None
    start = np.append(beta, math.log(max(float(np.sqrt(np.mean(residual**2))), 1e-3)))

    def objective(parameters: np.ndarray) -> float:
        return _tobit_negative_log_likelihood(parameters, matrix, values, flags)

    result = minimize(
        objective, start, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000}
    )
    result = minimize(objective, result.x, method="BFGS", options={"gtol": 1e-9})
    try:
        covariance = np.linalg.inv(_hessian(objective, result.x))[:columns, :columns] * scale
    except np.linalg.LinAlgError:
        covariance = None
    if covariance is None or not np.all(np.isfinite(covariance)) or np.any(np.diag(covariance) < 0):
        raise ValueError("the censored fit is degenerate: the crossed runs lie exactly on a line (no scatter)")
    return CensoredFit(
        coefficients=tuple(float(value) for value in result.x[:columns]),
        sigma=math.exp(float(result.x[-1])),
        covariance=covariance,
        confidence=confidence,
        num_points=rows,
        num_censored=int(flags.sum()),
    )
