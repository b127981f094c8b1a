"""Scaling-law fits: Student's t quantile, power-law slopes with intervals, window width and where it vanishes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lightning_clocks.report.scaling import (
    fit_censored,
    fit_line,
    fit_power_law,
    regularized_incomplete_beta,
    student_t_cdf,
    t_quantile,
    vanishing_point,
    window_map,
)


@pytest.mark.parametrize(
    ("probability", "df", "expected"),
    [
        (0.975, 1, 12.706),
        (0.975, 2, 4.303),
        (0.975, 5, 2.571),
        (0.975, 10, 2.228),
        (0.975, 30, 2.042),
        (0.995, 4, 4.604),
        (0.95, 20, 1.725),
        (0.975, 10**7, 1.960),
    ],
)
def test_t_quantile_matches_tables(probability: float, df: int, expected: float) -> None:
    assert t_quantile(probability, df) == pytest.approx(expected, abs=5e-4)


def test_t_quantile_inverts_the_cdf_and_is_symmetric() -> None:
    for df in (1, 3, 7.5, 40):
        for probability in (0.6, 0.9, 0.999):
            assert student_t_cdf(t_quantile(probability, df), df) == pytest.approx(probability, abs=1e-10)
        assert t_quantile(0.1, df) == pytest.approx(-t_quantile(0.9, df))
    assert student_t_cdf(0.0, 3) == 0.5


def test_incomplete_beta_known_values() -> None:
    assert regularized_incomplete_beta(1.0, 1.0, 0.3) == pytest.approx(0.3)  # uniform CDF
    assert regularized_incomplete_beta(2.5, 2.5, 0.5) == pytest.approx(0.5)  # symmetric
    assert regularized_incomplete_beta(2.0, 1.0, 0.6) == pytest.approx(0.36)  # x^2
    assert regularized_incomplete_beta(3.0, 4.0, 0.0) == 0.0


def test_power_law_fit_recovers_a_known_slope_and_its_interval_covers_it() -> None:
    rng = np.random.default_rng(2)
    sizes = np.repeat([128, 256, 512, 1024, 2048], 3)
    tau_mem = 5.0 * sizes**0.9 * np.exp(rng.normal(0.0, 0.1, sizes.size))
    fit = fit_power_law(sizes, tau_mem)
    low, high = fit.slope_interval
    assert low < 0.9 < high
    assert fit.slope == pytest.approx(0.9, abs=0.1)
    assert fit.num_points == 15
    expected_half_width = t_quantile(0.975, 13) * fit.slope_stderr
    assert high - fit.slope == pytest.approx(expected_half_width)
    assert 10 ** fit.predict(math.log10(512)) == pytest.approx(5.0 * 512**0.9, rel=0.15)


def test_exact_power_law_has_zero_width_interval() -> None:
    fit = fit_power_law([100, 200, 400, 800], [30.0 * n for n in (100, 200, 400, 800)])
    assert fit.slope == pytest.approx(1.0)
    assert fit.intercept == pytest.approx(math.log10(30.0))
    assert fit.slope_interval == pytest.approx((1.0, 1.0))
    assert fit.r_squared == pytest.approx(1.0)


def test_slope_intervals_have_their_nominal_coverage() -> None:
    """Over many noisy data sets of 4 points (df 2), about 95% of the intervals contain the true slope."""
    rng = np.random.default_rng(1)
    log_n = np.log10([128, 256, 512, 1024])
    trials = 2000
    covered = 0
    for _ in range(trials):
        fit = fit_line(log_n, 1.0 + 1.1 * log_n + rng.normal(0.0, 0.2, log_n.size))
        covered += fit.slope_interval[0] <= 1.1 <= fit.slope_interval[1]
    assert abs(covered / trials - 0.95) < 0.015


def test_two_points_give_a_slope_without_interval() -> None:
    fit = fit_power_law([100, 1000], [10.0, 1000.0])
    assert fit.slope == pytest.approx(2.0)
    assert fit.slope_interval is None and fit.slope_stderr is None


def test_fits_refuse_degenerate_data() -> None:
    with pytest.raises(ValueError, match="two distinct"):
        fit_line([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([100, 200], [0.0, 5.0])


def test_window_vanishing_point_and_map() -> None:
    log_n = [1.0, 2.0, 3.0]
    width_fit = fit_line(log_n, [0.5, 0.0, -0.5])  # width = 1 - 0.5 log10 N: zero at N = 100
    assert vanishing_point(width_fit) == pytest.approx(100.0)
    assert vanishing_point(fit_line(log_n, [1.0, 1.0, 1.0])) is None
    cells = window_map([(128, 2, True), (128, 2, False), (256, 2, True), (128, 3, False)])
    assert cells == {(128, 2): 0.5, (128, 3): 0.0, (256, 2): 1.0}


def test_censored_fit_without_censoring_is_least_squares() -> None:
    """With nothing censored the Tobit fit is ordinary least squares: same slope interval, and the prediction
    interval is OLS's closed form  yhat ± t s sqrt(1 + 1/n + (x0 - mean x)² / Sxx)."""
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([1.1, 1.9, 3.2, 3.9, 5.1])
    fit = fit_censored(np.column_stack([np.ones_like(x), x]), y, [False] * 5)
    line = fit_line(x, y)
    assert fit.slope == pytest.approx(line.slope)
    assert fit.slope_interval == pytest.approx(line.slope_interval)
    residual = y - (line.intercept + line.slope * x)
    s = math.sqrt(residual @ residual / 3)
    half = t_quantile(0.975, 3) * s * math.sqrt(1 + 1 / 5 + (7.0 - 3.0) ** 2 / 10.0)
    mean, low, high = fit.predict([1.0, 7.0])
    assert (mean, low, high) == pytest.approx((line.predict(7.0), line.predict(7.0) - half, line.predict(7.0) + half))


def test_censored_fit_recovers_the_slope_that_naive_fits_bias() -> None:
    """Simulated log tau = 1 + 1.0 log N + noise, censored at 10^3.5 (runs that never crossed by their last step):
    the Tobit slope's interval holds the true slope 1; least squares on the bounds as if measured is far below."""
    rng = np.random.default_rng(0)
    x = np.repeat(np.log10([64, 128, 256, 512, 1024, 2048]), 20)
    y = 1.0 + 1.0 * x + rng.normal(0.0, 0.15, x.size)
    censored = y > 3.5
    observed = np.where(censored, 3.5, y)
    fit = fit_censored(np.column_stack([np.ones_like(x), x]), observed, censored)
    assert fit.num_censored == censored.sum() > 30
    low, high = fit.slope_interval
    assert low < 1.0 < high and abs(fit.slope - 1.0) < 0.1
    assert fit.sigma == pytest.approx(0.15, abs=0.03)
    assert fit_line(x, observed).slope < 0.6  # the naive fit, biased low by the bounds


def test_censored_fit_needs_enough_crossed_runs_and_scatter() -> None:
    with pytest.raises(ValueError, match="needs more than 2 runs"):
        fit_censored([[1.0, 1.0], [1.0, 2.0]], [1.0, 2.0], [False, True])
    # crossed runs exactly on a line: the likelihood grows without bound as sigma -> 0
    with pytest.raises(ValueError, match="degenerate"):
        fit_censored([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0], [1.0, 4.0]], [1.0, 2.0, 3.0, 1.0], [False] * 3 + [True])
