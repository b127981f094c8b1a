"""``clocks claims``: every decision rule on hand-made run folders with planted effects (present -> reproduced,
absent -> not reproduced, opposite -> contradicted, censored or too few -> inconclusive), the exact kernel claims,
bad input, the plan and the paper-scale scripts, and one real tiny end-to-end campaign."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_clocks import results
from lightning_clocks.claims import verdicts
from lightning_clocks.claims.cli import c7_basins, claims, finished_runs
from lightning_clocks.claims.transitive import t1_balance, t2_geometry, t3_language_models
from lightning_clocks.errors import ConfigError
from lightning_clocks.results import write_curves, write_json

REPO = Path(__file__).resolve().parents[1]
#: Seed-to-seed scatter planted in every clock (a factor), so that intervals have a width.
JITTER = (0.97, 1.0, 1.03)


def make_run(
    folder: Path,
    tau_rule: float | None,
    tau_mem: float | None,
    *,
    n_train: int = 256,
    complexity: float = 3,
    rule: str = "group_parity",
    valid_count: int = 2**24,
    family: str = "gpt",
    seed: int = 0,
    last_step: int = 1_000_000,
    model: dict | None = None,
) -> Path:
    """A finished run folder whose curves step from 0 to 1 around each planted clock (crossing there)."""
    steps = {10.0, float(last_step)}
    for tau in (tau_rule, tau_mem):
        if tau is not None:
            steps |= {tau * 0.999, tau / 0.999}
    rows = []
    for step in sorted(step for step in steps if step <= last_step):
        validity = 1.0 if tau_rule is not None and step >= tau_rule else 0.0
        excess = 1.0 if tau_mem is not None and step >= tau_mem else 0.0
        rows.append({"step": step, "validity": validity, "mem_excess": excess, "copy_rate": excess})
    folder.mkdir(parents=True)
    write_curves(folder / "curves.csv", rows)
    write_json(
        folder / "clocks.json",
        {
            "rule_threshold": 0.5,
            "mem_threshold": 0.5,
            "smoothing": 0.0,
            "rule": {"name": rule, "complexity": complexity, "valid_count": valid_count},
            "model": {"family": family, "n_layer": 2, "n_embd": 64, **(model or {})},
            "n_train": n_train,
            "seed": seed,
        },
    )
    return folder


def load(tmp_path: Path, specs: list[dict]) -> list:
    """Write one sweep folder of the given runs (each a make_run keyword dict, seeds by JITTER) and load it."""
    sweep = tmp_path / f"sweep{len(list(tmp_path.iterdir()))}"
    names = []
    for index, spec in enumerate(specs):
        name = f"run{index}"
        make_run(sweep / name, **spec)
        names.append({"name": name, "values": {}, "seed": spec.get("seed", 0)})
    write_json(sweep / "sweep.json", {"name": "t", "runs": names})
    return finished_runs(sweep)


def seeded(tau_rule: float | None, tau_mem: float | None, **options) -> list[dict]:
    """Three seeds of one design point, each clock scaled by JITTER."""
    return [
        {
            "tau_rule": None if tau_rule is None else tau_rule * factor,
            "tau_mem": None if tau_mem is None else tau_mem * factor,
            "seed": seed,
            **options,
        }
        for seed, factor in enumerate(JITTER)
    ]


def complexity_runs(tau_rule_of, tau_mem_of=lambda g: 5000.0, seeds: int = 3) -> list[dict]:
    specs = []
    for g in (2, 3, 4):
        specs += seeded(tau_rule_of(g), tau_mem_of(g), complexity=g)[:seeds]
    return specs


# ----------------------------------------------------------------------------- C1, C5b: against complexity
@pytest.mark.parametrize(
    ("tau_rule_of", "expected"),
    [
        (lambda g: 100.0 * 3 ** (g - 2), verdicts.REPRODUCED),
        (lambda g: 100.0, verdicts.NOT_REPRODUCED),
        (lambda g: 900.0 / 3 ** (g - 2), verdicts.CONTRADICTED),
    ],
)
def test_c1_slope_of_tau_rule_on_complexity(tmp_path: Path, tau_rule_of, expected: str) -> None:
    verdict = verdicts.c1_complexity("gpt", load(tmp_path, complexity_runs(tau_rule_of)))
    assert verdict.verdict == expected, verdict.reason
    assert verdict.runs == 9
    if expected == verdicts.REPRODUCED:
        assert verdict.value == pytest.approx(math.log10(3), abs=0.01)  # planted: x3 per unit G


def test_c1_too_few_seeds_or_censored_is_inconclusive(tmp_path: Path) -> None:
    few = verdicts.c1_complexity("gpt", load(tmp_path, complexity_runs(lambda g: 100.0 * 3**g, seeds=2)))
    assert few.verdict == verdicts.INCONCLUSIVE and few.reason.startswith("too few runs")
    # Only G=2 crossed: the slope cannot be fitted (the others are bounds at their last step).
    censored = verdicts.c1_complexity("gpt", load(tmp_path, complexity_runs(lambda g: 100.0 if g == 2 else None)))
    assert censored.verdict == verdicts.INCONCLUSIVE and censored.reason.startswith("censored")


def test_c1_censored_runs_are_lower_bounds_in_the_fit(tmp_path: Path) -> None:
    # G=4 never crosses by the last step while G=2, 3 cross at 100 and 1,000: the bound supports the rise.
    specs = complexity_runs(lambda g: {2: 100.0, 3: 1000.0, 4: None}[g])
    verdict = verdicts.c1_complexity("gpt", load(tmp_path, specs))
    assert verdict.verdict == verdicts.REPRODUCED and "3 of 9 runs censored" in verdict.reason


def test_c5b_window_narrows_with_complexity(tmp_path: Path) -> None:
    narrowing = load(tmp_path, complexity_runs(lambda g: 100.0 * 3 ** (g - 2)))
    assert verdicts.c5b_window_narrows_with_complexity("gpt", narrowing).verdict == verdicts.REPRODUCED
    widening = load(tmp_path, complexity_runs(lambda g: 100.0, lambda g: 1000.0 * 2**g))
    assert verdicts.c5b_window_narrows_with_complexity("gpt", widening).verdict == verdicts.CONTRADICTED
    flat = load(tmp_path, complexity_runs(lambda g: 100.0, lambda g: 1000.0))
    assert verdicts.c5b_window_narrows_with_complexity("gpt", flat).verdict == verdicts.NOT_REPRODUCED


# ----------------------------------------------------------------------------- C2: capacity
def capacity_runs(tmp_path: Path, depth_effect: float, width_effect: float) -> dict[str, list]:
    """Depth 1, 2, 4 at width 64 and width 32, 128 at depth 2; tau_rule 400 at (2, 64), x effect per doubling."""
    depth = []
    for layers in (1, 2, 4):
        depth += seeded(400 * depth_effect ** math.log2(layers / 2), None, model={"n_layer": layers, "n_embd": 64})
    width = []
    for embd in (32, 128):
        width += seeded(400 * width_effect ** math.log2(embd / 64), None, model={"n_layer": 2, "n_embd": embd})
    depth_runs, width_runs = load(tmp_path, depth), load(tmp_path, width)
    from lightning_clocks.claims.cli import capacity_axes

    return capacity_axes("gpt", depth_runs, width_runs)


@pytest.mark.parametrize(
    ("depth_effect", "width_effect", "expected"),
    [
        (0.5, 0.5, verdicts.REPRODUCED),
        (1.0, 1.0, verdicts.NOT_REPRODUCED),
        (2.0, 0.5, verdicts.CONTRADICTED),
        (0.5, 1.0, verdicts.NOT_REPRODUCED),
    ],
)
def test_c2_capacity_in_depth_and_width(tmp_path: Path, depth_effect: float, width_effect: float, expected: str):
    axes = capacity_runs(tmp_path, depth_effect, width_effect)
    assert [len(runs) for runs in axes.values()] == [9, 9]  # the width axis borrows the depth-2 runs
    verdict = verdicts.c2_capacity("gpt", axes)
    assert verdict.verdict == expected, verdict.reason
    # The figure's categories go from the smallest model to the largest along each axis.
    labels = list(dict.fromkeys(verdict.details["data"]["x"]))
    assert [label.split()[0] for label in labels] == ["n_layer"] * 3 + ["n_embd"] * 3
    for axis in ("n_layer", "n_embd"):
        sizes = [float(label.split()[1]) for label in labels if label.startswith(axis)]
        assert sizes == sorted(sizes)


# ----------------------------------------------------------------------------- C3: rule invariance
def rule_runs(parity_mem: float, other_mem: float | None, valid_count: int = 3**12) -> list[dict]:
    specs = []
    for g in (2, 3, 4):
        specs += seeded(100.0, parity_mem, complexity=g, valid_count=2 ** (36 - 36 // g))
    return specs + seeded(100.0, other_mem, rule="exact_weight", complexity=3, valid_count=valid_count)


@pytest.mark.parametrize(
    ("other_mem", "expected"),
    [(2000.0, verdicts.REPRODUCED), (8000.0, verdicts.NOT_REPRODUCED), (4000.0, verdicts.INCONCLUSIVE)],
)
def test_c3_ratio_of_tau_mem_between_rules(tmp_path: Path, other_mem: float, expected: str) -> None:
    verdict = verdicts.c3_rule_invariance("gpt", load(tmp_path, rule_runs(2000.0, other_mem)))
    assert verdict.verdict == expected, verdict.reason
    # The ratio farthest from 1, in either orientation of the pair.
    assert max(verdict.value, 1 / verdict.value) == pytest.approx(other_mem / 2000.0, rel=0.01)
    assert len(verdict.details["pairs"]) == 6  # every two of the four rules


def test_c3_refuses_crowded_valid_sets_and_censored_runs(tmp_path: Path) -> None:
    crowded = verdicts.c3_rule_invariance("gpt", load(tmp_path, rule_runs(2000.0, 2000.0, valid_count=256 * 32)))
    assert crowded.verdict == verdicts.INCONCLUSIVE and "1/64 of the valid set" in crowded.reason
    censored = verdicts.c3_rule_invariance("gpt", load(tmp_path, rule_runs(2000.0, None)))
    assert censored.verdict == verdicts.INCONCLUSIVE and censored.reason.startswith("censored")


# ----------------------------------------------------------------------------- C4, C5a, C8: against N
def n_runs(tau_mem_of, ns=(64, 128, 256, 640), tau_rule: float = 100.0) -> list[dict]:
    specs = []
    for n in ns:
        specs += seeded(tau_rule, tau_mem_of(n), n_train=n)
    return specs


@pytest.mark.parametrize(
    ("exponent", "expected"),
    [(1.0, verdicts.REPRODUCED), (2.0, verdicts.CONTRADICTED), (0.3, verdicts.CONTRADICTED)],
)
def test_c4_exponent_of_tau_mem_in_n(tmp_path: Path, exponent: float, expected: str) -> None:
    verdict = verdicts.c4_linear_in_n("gpt", load(tmp_path, n_runs(lambda n: 10.0 * n**exponent)), batch_size=64)
    assert verdict.verdict == expected, verdict.reason
    assert verdict.value == pytest.approx(exponent, abs=0.02)


def test_c4_design_must_span_a_decade_from_the_batch_size(tmp_path: Path) -> None:
    short = verdicts.c4_linear_in_n("gpt", load(tmp_path, n_runs(lambda n: 10.0 * n, ns=(64, 128, 256))), 64)
    assert short.verdict == verdicts.INCONCLUSIVE and "decades" in short.reason
    small = verdicts.c4_linear_in_n("gpt", load(tmp_path, n_runs(lambda n: 10.0 * n, ns=(32, 64, 640))), 64)
    assert small.verdict == verdicts.INCONCLUSIVE and "below the batch size" in small.reason


def test_c4_with_every_run_at_one_n_censored_keeps_bounds(tmp_path: Path) -> None:
    # N=640 never crosses by the last step: still decided, with 3 bounds.
    specs = n_runs(lambda n: 10.0 * n if n < 640 else None)
    verdict = verdicts.c4_linear_in_n("gpt", load(tmp_path, specs), 64)
    assert "3 of 12 runs censored" in verdict.reason


def test_c5a_window_widens_with_n(tmp_path: Path) -> None:
    widening = load(tmp_path, n_runs(lambda n: 10.0 * n))
    assert verdicts.c5a_window_widens_with_n("gpt", widening, 64).verdict == verdicts.REPRODUCED
    flat = load(tmp_path, n_runs(lambda n: 5000.0))
    assert verdicts.c5a_window_widens_with_n("gpt", flat, 64).verdict == verdicts.NOT_REPRODUCED


def test_c5c_a_closed_window_in_every_seed(tmp_path: Path) -> None:
    closed = load(tmp_path, complexity_runs(lambda g: 100.0 if g < 4 else None, lambda g: 5000.0 if g < 4 else 900.0))
    verdict = verdicts.c5c_window_vanishes("gpt", closed)
    assert verdict.verdict == verdicts.REPRODUCED and "complexity 4" in verdict.reason
    open_only = load(tmp_path, complexity_runs(lambda g: 100.0))
    assert verdicts.c5c_window_vanishes("gpt", open_only).verdict == verdicts.INCONCLUSIVE


def test_c8_prediction_of_the_largest_n(tmp_path: Path) -> None:
    on_line = verdicts.c8_prediction("gpt", load(tmp_path, n_runs(lambda n: 10.0 * n)), 64)
    assert on_line.verdict == verdicts.REPRODUCED and on_line.value == pytest.approx(1.0, abs=0.02)
    bent = verdicts.c8_prediction("gpt", load(tmp_path, n_runs(lambda n: 10.0 * n if n < 640 else 500.0)), 64)
    assert bent.verdict == verdicts.NOT_REPRODUCED and bent.value == pytest.approx(500 / 6400, rel=0.05)
    censored = verdicts.c8_prediction("gpt", load(tmp_path, n_runs(lambda n: 10.0 * n if n < 640 else None)), 64)
    assert censored.verdict == verdicts.INCONCLUSIVE and censored.reason.startswith("censored")


# ----------------------------------------------------------------------------- C6, C7
def test_c6_both_families_with_an_offset(tmp_path: Path) -> None:
    gpt = load(tmp_path, seeded(50.0, 500.0, family="gpt"))
    dit = load(tmp_path, seeded(500.0, 5000.0, family="dit"))
    verdict = verdicts.c6_both_families(gpt, dit)
    assert verdict.verdict == verdicts.REPRODUCED and verdict.value == pytest.approx(10.0, rel=0.01)
    same = verdicts.c6_both_families(gpt, load(tmp_path, seeded(50.0, 500.0, family="dit")))
    assert same.verdict == verdicts.NOT_REPRODUCED
    reversed_dit = verdicts.c6_both_families(gpt, load(tmp_path, seeded(5000.0, 500.0, family="dit")))
    assert reversed_dit.verdict == verdicts.NOT_REPRODUCED and "dit" in reversed_dit.reason
    censored = verdicts.c6_both_families(gpt, load(tmp_path, seeded(500.0, None, family="dit")))
    assert censored.verdict == verdicts.INCONCLUSIVE and censored.reason.startswith("censored")


def test_c7_without_the_basins_calibration_is_inconclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lightning_clocks.basins.calibration", None)  # import fails
    verdict = c7_basins([])
    assert (verdict.verdict, verdict.reason) == (verdicts.INCONCLUSIVE, "calibrated basins not available")


# ----------------------------------------------------------------------------- transitive inference (exact)
def test_transitive_inference_claims_from_the_kernel_theory() -> None:
    balance, geometry = t1_balance(), t2_geometry()
    assert balance.verdict == verdicts.REPRODUCED and balance.details["balanced_points"] > 0
    # Without an exception every alpha < 1 generalizes perfectly (range exactly 0); with one it does not.
    assert geometry.verdict == verdicts.REPRODUCED and geometry.details["without"] == 0.0
    assert geometry.details["with"] >= 0.1
    assert t3_language_models().verdict == verdicts.INCONCLUSIVE


# ----------------------------------------------------------------------------- the command
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"claims": "C1,C9"}, "claims='C1,C9' is invalid"),
        ({"scale": "gpu"}, "scale='gpu' is invalid"),
        ({"family": "vae"}, "family='vae' is invalid"),
        ({"jobs": 0}, "jobs=0 is invalid"),
        ({"setup": ["module load cuda"]}, "only apply with --slurm=true"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        claims(out=tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert claims(family="gpt", claims="C4,C8", out=tmp_path / "out", dry_run=True, jobs=2) == 0
    printed = capsys.readouterr().out
    assert "gpt/n                12" in printed and "estimate:" in printed and "gpt/complexity" not in printed
    assert not (tmp_path / "out").exists()


def test_the_plan_counts_what_is_left_of_a_campaign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A finished run costs nothing more; one finished under fewer steps than the design asks costs the rest."""
    sweep_folder = tmp_path / "gpt" / "n"
    for name, max_steps in (("n_train-64_seed-0", 12000), ("n_train-64_seed-1", 12000), ("n_train-640_seed-0", 3000)):
        run = sweep_folder / name
        run.mkdir(parents=True)
        (run / results.EXIT_FILE).write_text("0\n")
        (run / results.CLOCKS_FILE).write_text("{}")
        (run / results.CONFIG_FILE).write_text(f"trainer:\n  max_steps: {max_steps}\n")
    assert claims(family="gpt", claims="C4", out=tmp_path, dry_run=True, jobs=1) == 0
    printed = capsys.readouterr().out
    # 12 runs expected to train 3 x (700 + 1,300 + 2,500 + 7,000) = 34,500 steps at 25 steps/s: 23 minutes on one
    # worker; left: 9 runs never started (34,500 - 2 x 700 - 7,000 = 26,100 steps) and the N=640 run's
    # 7,000 - 3,000 steps: 30,100 steps, 20 minutes.
    assert "estimate: 23 minutes with 1 runs at once for the whole campaign, 20 for the 10 runs not yet" in printed


def test_cpu_scale_dit_claims_beyond_the_budget_are_inconclusive(tmp_path: Path) -> None:
    assert claims(family="dit", claims="C4,C8", out=tmp_path, run=False) == 0
    rows = json.loads((tmp_path / "claims.json").read_text())["verdicts"]
    assert [(row["claim"], row["verdict"]) for row in rows] == [("C4", "inconclusive"), ("C8", "inconclusive")]
    assert all(row["reason"].startswith("not run at this scale") for row in rows)


def test_paper_scale_writes_slurm_scripts_and_gpu_hours(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert claims(scale="paper", family="gpt", claims="C4", out=tmp_path) == 0
    printed = capsys.readouterr().out
    assert "GPU-hours" in printed and "not measured" in printed
    script = (tmp_path / "gpt" / "n" / "sweep.sbatch").read_text()
    assert "--array=0-11" in script and "parity_gpt.yaml" in script


def test_end_to_end_tiny_c1_campaign_resumes(tmp_path: Path) -> None:
    """A real `clocks claims --scale=cpu --claims=C1 --family=gpt` with one seed and 30-step runs: three runs, a
    table and a verdict (one seed: too few runs); the second call retrains nothing."""
    command = [
        sys.executable,
        "-m",
        "lightning_clocks.cli",
        "claims",
        "--scale=cpu",
        "--claims=C1",
        "--family=gpt",
        "--seeds=[0]",
        "--jobs=2",
        f"--out={tmp_path}",
        "--",
        "--trainer.max_steps=30",
        "--clocks.num_samples=32",
        "--clocks.sample_batch_size=32",
        "--clocks.num_evaluations=3",
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    first = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=environment, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    runs = sorted(path.name for path in (tmp_path / "gpt" / "complexity").iterdir() if path.is_dir())
    assert runs == ["group_size-2_seed-0", "group_size-3_seed-0", "group_size-4_seed-0"]
    table = (tmp_path / "claims.md").read_text()
    assert "| C1: τ_rule increases with rule complexity | gpt | **inconclusive** |" in table
    second = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=environment, timeout=300)
    assert second.returncode == 0 and "3 of 3 runs already finished; launching 0" in second.stdout


def test_claim_ids_are_read_in_any_case_and_in_the_table_order() -> None:
    from lightning_clocks.claims.cli import parse_claims

    assert parse_claims("c5a,C4,t1") == ["C4", "C5a", "T1"]
