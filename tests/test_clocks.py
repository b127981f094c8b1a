"""Crossing detection, smoothing, schedules, Wilson bands and clock intervals on synthetic curves with known
answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lightning_clocks.clocks import (
    Clocks,
    crossing_interval,
    first_crossing,
    gaussian_smooth,
    log_spaced_steps,
    measure_clocks,
    newcombe_interval,
    wilson_interval,
)
from lightning_clocks.errors import ConfigError


def test_crossing_interpolates_in_log_step() -> None:
    # validity 0.2 at step 10 and 0.8 at step 1000: 0.5 is halfway in log10(step), i.e. step 100.
    assert first_crossing([10, 1000], [0.2, 0.8], 0.5) == pytest.approx(100.0)
    # a quarter of the way from log10(100)=2 to log10(10000)=4 is 10**2.5.
    assert first_crossing([1, 100, 10000], [0.0, 0.0, 0.4], 0.1) == pytest.approx(10**2.5)


def test_crossing_exactly_at_an_evaluation() -> None:
    assert first_crossing([10, 20, 40], [0.1, 0.5, 0.9], 0.5) == pytest.approx(20.0)


def test_first_evaluation_already_above() -> None:
    assert first_crossing([10, 20], [0.7, 0.9], 0.5) == 10.0


def test_never_crossed_is_none_not_zero_or_last() -> None:
    assert first_crossing([10, 20, 40], [0.1, 0.3, 0.49], 0.5) is None
    clocks = measure_clocks({"step": [10, 20], "validity": [0.1, 0.2], "mem_excess": [0.0, 0.0]})
    assert clocks.tau_rule is None and clocks.tau_mem is None
    assert not clocks.window_open
    assert clocks.to_dict()["tau_rule"] is None


def test_only_the_first_crossing_counts() -> None:
    assert first_crossing([1, 10, 100, 1000], [0.0, 1.0, 0.0, 1.0], 0.5) == pytest.approx(10**0.5)


def test_window_logic() -> None:
    assert Clocks(100.0, None, 0.5, 0.1, 0.0).window_open
    assert Clocks(100.0, 1000.0, 0.5, 0.1, 0.0).window == pytest.approx(1.0)
    assert not Clocks(1000.0, 100.0, 0.5, 0.1, 0.0).window_open
    assert not Clocks(None, 100.0, 0.5, 0.1, 0.0).window_open


def test_smoothing_keeps_constants_and_damps_a_spike() -> None:
    assert gaussian_smooth([0.3] * 7, 2.0) == pytest.approx([0.3] * 7)
    spiky = [0, 0, 0, 1, 0, 0, 0]
    smooth = gaussian_smooth(spiky, 1.0)
    assert smooth.max() < 0.5 and smooth.sum() == pytest.approx(1.0, abs=0.15)
    assert np.array_equal(gaussian_smooth(spiky, 0.0), np.asarray(spiky, dtype=float))


def test_smoothing_removes_a_spurious_early_crossing() -> None:
    steps = [10, 20, 40, 80, 160, 320, 640]
    validity = [0.0, 0.6, 0.0, 0.1, 0.7, 0.9, 1.0]  # one noisy evaluation at step 20
    raw = measure_clocks({"step": steps, "validity": validity, "mem_excess": [0] * 7})
    smooth = measure_clocks({"step": steps, "validity": validity, "mem_excess": [0] * 7}, smoothing=1.0)
    assert raw.tau_rule < 20
    assert smooth.tau_rule > 80


def test_thresholds_must_lie_in_unit_interval() -> None:
    curves = {"step": [1], "validity": [0.0], "mem_excess": [0.0]}
    with pytest.raises(ConfigError, match="rule_threshold"):
        measure_clocks(curves, rule_threshold=0.0)
    with pytest.raises(ConfigError, match="mem_threshold"):
        measure_clocks(curves, mem_threshold=1.5)


def test_log_spaced_schedule() -> None:
    steps = log_spaced_steps(10, 10_000, 40)
    assert steps[0] == 10 and steps[-1] == 10_000
    assert steps == sorted(set(steps))
    ratios = np.diff(np.log10(steps))
    assert ratios.max() < 3 * (math.log10(1000) / 39)
    assert log_spaced_steps(1, 5, 40) == [1, 2, 3, 4, 5]


def test_wilson_interval_matches_its_closed_form_values() -> None:
    # 5 of 10: the textbook Wilson 95% interval (0.2366, 0.7634); 0 of 10: upper end z^2 / (n + z^2).
    low, high = wilson_interval(0.5, 10)
    assert (float(low), float(high)) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval([0.0, 1.0], [10, 10])
    z2 = 1.959963984540054**2
    assert low.tolist() == pytest.approx([0.0, 10 / (10 + z2)])
    assert high.tolist() == pytest.approx([z2 / (10 + z2), 1.0])


def test_newcombe_interval_of_a_difference() -> None:
    # Against a rate of exactly 0 (whose Wilson interval is [0, z^2 / (n + z^2)]), the low end combines the two
    # Wilson distances in quadrature and the high end is a's own Wilson high end.
    low, high = newcombe_interval([0.3], [0.0], [100])
    wilson_low, wilson_high = wilson_interval(0.3, 100)
    zero_high = 1.959963984540054**2 / (100 + 1.959963984540054**2)
    assert low[0] == pytest.approx(0.3 - math.hypot(0.3 - float(wilson_low), zero_high))
    assert high[0] == pytest.approx(float(wilson_high))
    swapped_low, swapped_high = newcombe_interval([0.0], [0.3], [100])
    assert (swapped_low[0], swapped_high[0]) == pytest.approx((-high[0], -low[0]))


def test_clock_interval_is_where_the_band_edges_cross() -> None:
    # Upper edge crosses 0.5 halfway from 10 to 100 (10**1.5), the lower edge halfway from 100 to 1000 (10**2.5).
    steps = [10, 100, 1000]
    assert crossing_interval(steps, ([0.0, 0.0, 1.0], [0.0, 1.0, 1.0]), 0.5) == pytest.approx((10**1.5, 10**2.5))
    assert crossing_interval(steps, ([0.0, 0.0, 0.0], [0.0, 1.0, 1.0]), 0.5) == pytest.approx((10**1.5, None))
    assert crossing_interval(steps, ([0.0] * 3, [0.2] * 3), 0.5) is None


def test_measured_clocks_carry_intervals_that_shrink_with_more_samples() -> None:
    steps = [10, 100, 1000, 10000]
    curves = {
        "step": steps,
        "validity": [0.1, 0.4, 0.6, 0.9],
        "copy_rate": [0.0, 0.05, 0.2, 0.5],
        "control_copy_rate": [0.0] * 4,
        "mem_excess": [0.0, 0.05, 0.2, 0.5],
    }
    assert measure_clocks(curves).tau_rule_interval is None  # no counts: no interval
    intervals = []
    for count in (100, 10_000):
        clocks = measure_clocks({**curves, "num_samples": [count] * 4})
        for tau, interval in ((clocks.tau_rule, clocks.tau_rule_interval), (clocks.tau_mem, clocks.tau_mem_interval)):
            assert interval[0] < tau < interval[1]
        intervals.append(math.log10(clocks.tau_rule_interval[1] / clocks.tau_rule_interval[0]))
        assert clocks.to_dict()["tau_mem_interval"] == clocks.tau_mem_interval
    assert intervals[1] < intervals[0] / 5


def test_clock_intervals_reach_the_wandb_summary_as_two_numbers() -> None:
    from types import SimpleNamespace

    from lightning_clocks.callbacks.clock import summarize_to_wandb

    logged: dict[str, object] = {}
    run = SimpleNamespace(summary={}, log=logged.update)
    logger = SimpleNamespace(experiment=run, log_table=lambda **table: None)
    clocks = Clocks(100.0, None, 0.5, 0.1, 0.0, tau_rule_interval=(80.0, 120.0), tau_mem_interval=None)
    rows = [{"step": 10, "validity": 0.1, "mem_excess": 0.0}, {"step": 1000, "validity": 0.9, "mem_excess": 0.0}]
    summarize_to_wandb(logger, clocks, rows, ("validity", "mem_excess"))
    assert run.summary["clocks/tau_rule"] == 100.0 and run.summary["clocks/tau_mem"] is None
    assert (run.summary["clocks/tau_rule_interval_low"], run.summary["clocks/tau_rule_interval_high"]) == (80.0, 120.0)
    assert run.summary["clocks/tau_mem_interval_low"] is None and "clocks/tau_rule_interval" not in run.summary


def test_the_clock_callback_gives_its_clocks_intervals_from_its_rows() -> None:
    from lightning_clocks.callbacks.clock import ClockCallback

    callback = ClockCallback()
    callback.rows = [
        {
            "step": step,
            "validity": valid,
            "copy_rate": copy,
            "control_copy_rate": 0.0,
            "mem_excess": copy,
            "num_samples": 512.0,
        }
        for step, valid, copy in ((10, 0.1, 0.0), (100, 0.4, 0.05), (1000, 0.6, 0.2), (10000, 0.9, 0.5))
    ]
    clocks = callback.clocks()
    assert clocks.tau_rule_interval[0] < clocks.tau_rule < clocks.tau_rule_interval[1]
    assert clocks.tau_mem_interval[0] < clocks.tau_mem < clocks.tau_mem_interval[1]
