"""Basin radii against their references (floor, population, memorizer), expansion, dominance and the C7 decision."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
import torch

from lightning_clocks.basins.calibration import (
    C7_VERDICTS,
    basin_radius,
    c7_verdict,
    dominance_interval,
    dominance_onset,
    expansion,
    expansion_step,
    floor_radius_closed_form,
    floor_return_probability,
)
from lightning_clocks.basins.denoisers import EmpiricalDenoiser, FloorDenoiser, ParityDenoiser
from lightning_clocks.basins.probe import BasinProbe, ode_returns, truncated_karras_sigmas
from lightning_clocks.basins.table import BASIN_COLUMNS, read_basins, write_basins
from lightning_clocks.data import RuleDataModule
from lightning_clocks.models.encoding import CellEncoding
from lightning_clocks.results import write_json
from lightning_clocks.rules import GroupParity

SIGN = CellEncoding("sign", 2)
SIGMAS = [0.4, 0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0]


def parity_probe(length: int, n_train: int, targets: int) -> BasinProbe:
    data = RuleDataModule(GroupParity(length, 2), n_train=n_train, seed=0)
    data.setup("fit")
    counts = {"train": targets, "control": targets, "invalid": targets}
    return BasinProbe(data.rule, data.train_set, data.control_set, SIGMAS, [1], counts)


def by_class(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    """The first row of each class (the class-level columns repeat on every row)."""
    first: dict[str, dict[str, object]] = {}
    for row in rows:
        first.setdefault(str(row["target_class"]), row)
    return first


def test_floor_returns_a_target_exactly_when_every_cell_keeps_its_sign_with_rate_phi_one_over_sigma_to_the_L():
    length, count = 24, 4000
    generator = torch.Generator().manual_seed(3)
    targets = torch.randint(2, (count, length), generator=generator)
    noise = torch.randn(count, length, 1, generator=generator)
    cells = SIGN.encode(targets)
    rates = []
    for sigma in SIGMAS:
        schedule = truncated_karras_sigmas(sigma, 12, 0.002, 7.0)
        returned = ode_returns(FloorDenoiser(0.5), SIGN, targets, noise, schedule)
        kept_sign = ((cells + sigma * noise) * cells > 0).all(dim=-1).all(dim=-1)
        assert torch.equal(returned, kept_sign)
        expected = floor_return_probability(sigma, length)
        assert abs(float(returned.float().mean()) - expected) <= 4 * math.sqrt(expected * (1 - expected) / count)
        rates.append(float(returned.float().mean()))
    closed_form = floor_radius_closed_form(length)
    assert NormalDist().cdf(1 / closed_form) ** length == pytest.approx(0.5)
    assert basin_radius(SIGMAS, rates) == pytest.approx(closed_form, abs=0.02)


def test_population_reference_gives_training_and_held_out_targets_the_same_radius_and_the_memorizer_none_held_out():
    probe = parity_probe(16, n_train=64, targets=64)
    population_rows = by_class(probe.measure_diffusion(0, ParityDenoiser(probe.rule), SIGN, 10, 0.002, 7.0))
    train, control, invalid = (population_rows[name] for name in ("train", "control", "invalid"))
    assert train["population_radius"] == pytest.approx(control["population_radius"], rel=0.1)
    assert train["floor_radius"] < train["population_radius"] < train["memorizer_radius"]
    assert control["memorizer_radius"] is None and invalid["memorizer_radius"] is None
    assert invalid["population_radius"] is None and invalid["expansion"] is None
    # a model that is the population denoiser sits on its reference: expansion 1, dominance 0 with a zero interval
    assert train["basin_radius"] == train["population_radius"] and control["expansion"] == 1.0
    assert (train["dominance"], train["dominance_low"], train["dominance_high"]) == (0.0, 0.0, 0.0)
    # the references are kept: a memorizer measured later on the same probe sees the same reference radii
    memorizer_rows = by_class(
        probe.measure_diffusion(1, EmpiricalDenoiser(SIGN.encode(probe.train_set)), SIGN, 10, 0.002, 7.0)
    )
    assert memorizer_rows["train"]["basin_radius"] == memorizer_rows["train"]["memorizer_radius"]
    assert memorizer_rows["train"]["population_radius"] == train["population_radius"]
    assert memorizer_rows["train"]["dominance_low"] > 0 and memorizer_rows["control"]["basin_radius"] is None
    assert "dominance" not in memorizer_rows["control"]


def test_expansion_and_paired_bootstrap_dominance_on_hand_made_outcomes():
    assert expansion(0.7, 0.5, 0.9) == pytest.approx(0.5)
    assert expansion(None, 0.5, 0.9) is None and expansion(0.7, 0.5, 0.5) is None
    levels = [0.5, 0.7, 1.0, 1.5]
    # every target returns up to 1.0 under the model and up to 0.7 under the population: every resample agrees,
    # and each radius lies halfway (in log sigma) to the next level, where the rate falls from 1 to 0
    learned = np.array([[True] * 8, [True] * 8, [True] * 8, [False] * 8])
    population = np.array([[True] * 8, [True] * 8, [False] * 8, [False] * 8])
    gap = math.sqrt(1.0 * 1.5) - math.sqrt(0.7 * 1.0)
    point, low, high = dominance_interval(levels, learned, population)
    assert point == pytest.approx(gap) and low == pytest.approx(gap) and high == pytest.approx(gap)
    # half the targets return from 1.0: the point radius is 1.0 exactly, and resamples fall on both sides
    mixed = learned.copy()
    mixed[2, 4:] = False
    point, low, high = dominance_interval(levels, mixed, population, seed=1)
    assert point == pytest.approx(1.0 - math.sqrt(0.7)) and low < point < high
    assert dominance_interval(levels, mixed, population, seed=1) == (point, low, high)
    assert dominance_interval(levels, np.zeros((4, 8), dtype=bool), population) == (None, None, None)


def hand_made_rows(steps: list[int], control_expansion: list[float], train_low: list[float]) -> list[dict[str, object]]:
    """basins.csv rows of one sigma per class with the given control expansion and training dominance_low."""
    rows: list[dict[str, object]] = []
    for step, grown, low in zip(steps, control_expansion, train_low, strict=True):
        common = {"step": step, "sigma": 1.0, "return_rate": 0.5, "floor_radius": 0.5, "population_radius": 0.9}
        rows.append({**common, "target_class": "train", "expansion": 1.0, "dominance": low + 0.1, "dominance_low": low})
        rows.append({**common, "target_class": "control", "basin_radius": 0.5 + 0.4 * grown, "expansion": grown})
    return rows


def test_expansion_step_and_dominance_onset_from_a_hand_made_basins_csv(tmp_path: Path):
    write_basins(tmp_path / "basins.csv", hand_made_rows([100, 1000, 10000], [0.0, 1.0, 1.0], [-0.2, 0.05, 0.3]))
    header = (tmp_path / "basins.csv").read_text().splitlines()[0].split(",")
    assert header == [name for name in BASIN_COLUMNS if name in header]
    rows = read_basins(tmp_path / "basins.csv")
    assert expansion_step(rows) == pytest.approx(10**2.5)  # 0.5 is halfway from 0 to 1, in log step
    assert dominance_onset(rows) == 1000


def make_run(
    folder: Path, tau_rule: float | None, tau_mem: float | None, expand_at: float, dominate_at: float, steps: list[int]
) -> Path:
    """A run folder whose control expansion crosses 0.5 at ``expand_at`` and dominance starts at ``dominate_at``."""
    folder.mkdir()
    write_json(folder / "clocks.json", {"tau_rule": tau_rule, "tau_mem": tau_mem, "seed": 0})
    control = [1.0 if step >= expand_at else 0.0 for step in steps]
    lows = [0.1 if step >= dominate_at else -0.1 for step in steps]
    write_basins(folder / "basins.csv", hand_made_rows(steps, control, lows))
    return folder


def test_c7_verdict_on_hand_made_run_folders(tmp_path: Path):
    steps = [int(10 ** (2 + k / 10)) for k in range(21)]  # 100 .. 10,000, ten per decade

    def runs(name: str, *settings: tuple) -> list[Path]:
        return [make_run(tmp_path / f"{name}{index}", *setting, steps) for index, setting in enumerate(settings)]

    reproduced = c7_verdict(runs("good", (300, 3000, 300, 3000), (400, 5000, 450, 4000)))
    assert reproduced["verdict"] == "reproduced", reproduced["reason"]
    assert [detail["dominance_onset"] for detail in reproduced["details"]] == [3162, 5011]
    assert reproduced["value"] == pytest.approx(np.mean([math.log10(3162 / 3000), math.log10(5011 / 5000)]))
    assert reproduced["low"] <= reproduced["value"] <= reproduced["high"]

    early = c7_verdict(runs("early", (300, 3000, 300, 3000), (400, 5000, 450, 200)))
    assert early["verdict"] == "contradicted" and "before tau_rule" in early["reason"]
    late = c7_verdict(runs("late", (300, 3000, 300, 3000), (400, 4000, 450, 9000)))
    assert late["verdict"] == "not reproduced" and "from tau_mem" in late["reason"]
    censored = c7_verdict(runs("censored", (300, 3000, 300, 3000), (400, None, 450, 9000)))
    assert censored["verdict"] == "inconclusive" and "censored" in censored["reason"]
    one_seed = c7_verdict(runs("one", (300, 3000, 300, 3000)))
    assert one_seed["verdict"] == "inconclusive" and "fewer than 2" in one_seed["reason"]
    narrow = c7_verdict(runs("narrow", (300, 3000, 300, 3000), (1000, 2000, 1000, 2000)))
    assert narrow["verdict"] == "inconclusive" and "basin evaluations in the window" in narrow["reason"]
    assert {result["verdict"] for result in (reproduced, early, late, censored)} <= set(C7_VERDICTS)
