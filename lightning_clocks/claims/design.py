"""The experiments of ``clocks claims`` (docs/claims.md, "Designs"): sweeps per model family and scale.

A *campaign* is one :class:`Design` per model family: a set of named sweeps (each a base config, a grid, seeds
and ``clocks fit`` arguments, run by the ``clocks sweep`` machinery) and the settings its claims compare at
(the reference N, the rule family of C1). A claim reads the runs of one or more sweeps and picks the ones it
needs (e.g. C1 the parity runs at the reference N). Sweeps that a family cannot afford at a scale are left out
of its design; their claims then answer ``inconclusive`` and name the runs it would take
(:data:`NOT_AT_CPU_SCALE`).

Everything here is our choice, fixed before any run (docs/claims.md): the abstracts state no setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The repository's configs folder (base configs of the designs).
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SCALES = ("cpu", "paper")
FAMILIES = ("gpt", "dit")
#: Seeds of every design point (the decision rules need at least three per point).
SEEDS = (0, 1, 2)
#: Seeds of the basins runs (C7), as the basins calibration expects.
BASIN_SEEDS = (0, 1)

RULE_KEY = "data.rule.init_args.group_size"
N_KEY = "data.n_train"


@dataclass(frozen=True)
class SweepSpec:
    """One sweep of a campaign: its folder name, base config, grid, seeds and ``clocks fit`` arguments.

    ``expected_steps`` maps a value of the grid's first key (as text) to the steps a run is expected to train
    (for the time estimate and to start long runs first); values not listed train ``max_steps``."""

    name: str
    config: Path
    grid: Mapping[str, Sequence[object]]
    fit_args: tuple[str, ...]
    max_steps: int
    seeds: tuple[int, ...] = SEEDS
    expected_steps: Mapping[str, int] = field(default_factory=dict)

    def steps_of(self, values: Mapping[str, str]) -> int:
        """Steps a run with these swept values is expected to train."""
        first = next(iter(values.values()), None)
        return min(self.max_steps, self.expected_steps.get(str(first), self.max_steps))

    def arguments(self, extra: Sequence[str] = ()) -> list[str]:
        """The fit arguments of every run: the design's, ``trainer.max_steps``, then ``extra`` (which win)."""
        return [*self.fit_args, f"--trainer.max_steps={self.max_steps}", *extra]


@dataclass(frozen=True)
class Design:
    """One family's campaign at one scale: its sweeps and the settings the claims compare at."""

    family: str
    scale: str
    sweeps: tuple[SweepSpec, ...]
    #: The N at which C1, C3 and C5b compare rules (N <= 1/64 of every valid set compared).
    reference_n: int
    #: Assumed training speed of one run (steps per second) for the time estimate.
    steps_per_second: float
    #: The basis of ``steps_per_second``.
    speed_basis: str

    def sweep(self, name: str) -> SweepSpec | None:
        return next((spec for spec in self.sweeps if spec.name == name), None)


#: Claims whose sweeps the DiT cannot afford on CPU, with the reason and the runs it would take.
NOT_AT_CPU_SCALE = {
    "n": "the DiT copies late on CPU (tau_mem 4,700-10,400 steps at N=64 in the CPU campaign, docs/claims.md); if "
    "tau_mem grows as N, an N sweep over a decade (64..640, 3 seeds) trains to about 10,000, 21,000, 41,000 and "
    "103,000 steps: 12 runs, ~525,000 steps, ~9 CPU-hours at 15-20 steps/s (~4.5 hours with --jobs=2)",
    "rule2": "C3 needs tau_mem at N=256 for three parity G and a second rule (none of the CPU campaign's DiT runs "
    "at N=256 copied by 12,000 steps, docs/claims.md): 12 runs of ~40,000 steps, ~8 CPU-hours",
}


def _cpu_common(length: int) -> tuple[str, ...]:
    """CPU fit arguments shared by every sweep: quiet, 256 samples per evaluation, a checkpoint every 500 steps."""
    return (
        f"--data.rule.init_args.length={length}",
        "--trainer.enable_progress_bar=false",
        "--clocks.num_samples=256",
        "--clocks.sample_batch_size=256",
        "--clocks.num_evaluations=24",
        "--checkpoint.every_n_train_steps=500",
    )


#: Stop a run once it has crossed tau_mem and copies 20% of its samples (the clocks are measured by then).
STOP_AT_MEMORIZATION = ("--clocks.stop_when_memorized=true", "--clocks.stop_copy_rate=0.2")
SECOND_RULE = (
    "--data.rule=lightning_clocks.rules.ExactWeight",
    "--data.rule.init_args.group_size=3",
    "--data.rule.init_args.weight=1",
)


def shared_setting(config: Path, expected_steps: int) -> SweepSpec:
    """C6's sweep, the same for both families on CPU: 24-bit parity G=2, N=64 (1/64 of its valid set), trained
    until the run copies."""
    return SweepSpec(
        "shared",
        config,
        {N_KEY: [64]},
        (*_cpu_common(24), f"--{RULE_KEY}=2", *STOP_AT_MEMORIZATION),
        12000,
        expected_steps={"64": expected_steps},
    )


def cpu_gpt() -> Design:
    """The GPT at CPU scale: the quickstart GPT (2 layers x 64, lr 1e-3, batch 64) on 36-bit rules; sweeps in the
    order they run, the cheapest claims first (C2, then C1 and C5b, C3, C4 with C5a and C8, C6)."""
    config = CONFIGS / "quickstart.yaml"
    common = _cpu_common(36)
    parity = (*common, "--data.rule.init_args.group_size=2")
    at_reference = (*common, f"--{N_KEY}=256")
    # Measured on this machine (30-bit, G=3, N=256): tau_mem 1,728 steps; tau_mem grows about as N.
    return Design(
        family="gpt",
        scale="cpu",
        reference_n=256,
        steps_per_second=25.0,
        speed_basis="measured: the CPU campaign's GPT runs, 67,213 steps in 22 minutes, two at once on an idle "
        "2-core machine (docs/claims.md)",
        sweeps=(
            SweepSpec("depth", config, {"model.init_args.n_layer": [1, 2, 4]}, (*at_reference, f"--{RULE_KEY}=3"), 800),
            SweepSpec("width", config, {"model.init_args.n_embd": [32, 128]}, (*at_reference, f"--{RULE_KEY}=3"), 800),
            SweepSpec(
                "complexity",
                config,
                {RULE_KEY: [2, 3, 4]},
                (*at_reference, *STOP_AT_MEMORIZATION),
                12000,
                expected_steps={"2": 2500, "3": 3000, "4": 3500},
            ),
            SweepSpec(
                "rule2",
                config,
                {RULE_KEY: [3]},
                (*at_reference, *SECOND_RULE, *STOP_AT_MEMORIZATION),
                12000,
                expected_steps={"3": 3000},
            ),
            SweepSpec(
                "n",
                config,
                {N_KEY: [64, 128, 256, 640]},
                (*parity, *STOP_AT_MEMORIZATION),
                12000,
                expected_steps={"64": 700, "128": 1300, "256": 2500, "640": 7000},
            ),
            shared_setting(config, 800),
        ),
    )


def cpu_dit() -> Design:
    """The DiT at CPU scale: the quickstart DiT (2 blocks x 64, EDM, p_mean 0, lr 2e-3, batch 64); no N sweep."""
    config = CONFIGS / "quickstart_dit.yaml"
    common = _cpu_common(36)
    at_reference = (*common, f"--{N_KEY}=256")
    return Design(
        family="dit",
        scale="cpu",
        reference_n=256,
        steps_per_second=17.0,
        speed_basis="measured: the CPU campaign's 36-bit DiT runs, 15-17 steps/s each, two at once on an idle 2-core "
        "machine (docs/claims.md)",
        sweeps=(
            SweepSpec("depth", config, {"model.init_args.depth": [1, 2, 4]}, (*at_reference, f"--{RULE_KEY}=2"), 2000),
            SweepSpec("width", config, {"model.init_args.width": [32, 128]}, (*at_reference, f"--{RULE_KEY}=2"), 2000),
            # 12,000 steps, raised from 6,000 after the first campaign: every G=3 run was still below the rule
            # threshold at 6,000 (validity 0.09 and rising in seed 0); a rerun extends those runs (docs/claims.md).
            SweepSpec("complexity", config, {RULE_KEY: [2, 3]}, at_reference, 12000),
            shared_setting(config, 9000),
            SweepSpec(
                "basins",
                CONFIGS / "basins_dit_cpu.yaml",
                {},
                ("--trainer.enable_progress_bar=false",),
                8000,
                seeds=BASIN_SEEDS,
            ),
        ),
    )


def paper_design(family: str) -> Design:
    """Paper-like scale on one GPU per run, our choice: configs/parity_<family>.yaml (36 bits, batch 256), N from
    256 to 2,560, G 2..4, capacity x1/2 and x2 in depth and width. Written as Slurm scripts, never run here."""
    config = CONFIGS / f"parity_{family}.yaml"
    max_steps = 100000 if family == "gpt" else 200000
    common = ("--trainer.enable_progress_bar=false",)
    at_reference = (*common, f"--{N_KEY}=1024")
    # Capacity x1/2 and x2 around the base model (GPT 6 x 256; DiT-S, 4 blocks x 128), in depth and in width.
    if family == "gpt":
        depth_key, width_key, depths, widths, base_depth, base_width = (
            "n_layer",
            "n_embd",
            [3, 6, 12],
            [128, 512],
            6,
            256,
        )
    else:
        depth_key, width_key, depths, widths, base_depth, base_width = "depth", "width", [2, 4, 8], [64, 256], 4, 128
    capacity = (*at_reference, f"--{RULE_KEY}=3", *(() if family == "gpt" else ("--model.init_args.preset=null",)))
    sweeps = [
        SweepSpec("n", config, {N_KEY: [256, 512, 1024, 2560]}, (*common, *STOP_AT_MEMORIZATION), max_steps),
        SweepSpec("complexity", config, {RULE_KEY: [2, 3, 4]}, (*at_reference, *STOP_AT_MEMORIZATION), max_steps),
        SweepSpec("rule2", config, {RULE_KEY: [3]}, (*at_reference, *SECOND_RULE, *STOP_AT_MEMORIZATION), max_steps),
        SweepSpec(
            "depth",
            config,
            {f"model.init_args.{depth_key}": depths},
            (*capacity, f"--model.init_args.{width_key}={base_width}"),
            max_steps // 4,
        ),
        SweepSpec(
            "width",
            config,
            {f"model.init_args.{width_key}": widths},
            (*capacity, f"--model.init_args.{depth_key}={base_depth}"),
            max_steps // 4,
        ),
        SweepSpec("shared", config, {N_KEY: [1024]}, (*common, *STOP_AT_MEMORIZATION), max_steps),
    ]
    return Design(
        family=family,
        scale="paper",
        reference_n=1024,
        steps_per_second=20.0 if family == "gpt" else 10.0,
        speed_basis="assumed for one H100-class GPU, not measured: no GPU has been measured with this tool yet",
        sweeps=tuple(sweeps),
    )


def design(family: str, scale: str) -> Design:
    """The campaign of one family at one scale."""
    if scale == "paper":
        return paper_design(family)
    return cpu_gpt() if family == "gpt" else cpu_dit()
