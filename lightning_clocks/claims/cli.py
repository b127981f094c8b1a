"""``clocks claims``: the abstracts' claims as verdicts (docs/claims.md), from sweeps run for them.

For each selected claim and model family it (a) designs the experiment as sweeps
(:mod:`lightning_clocks.claims.design`), (b) runs them with the ``clocks sweep`` machinery (every run in its own
folder ``<out>/<family>/<sweep>/<run>``, locked while it trains, resumed from its last checkpoint, finished runs
never retrained; the runs of all sweeps share one pool of ``--jobs`` workers, sweep by sweep in the design's
order (its cheapest claims first) and shortest first within a sweep, so that a stopped campaign has decided
what it could), or writes them as
Slurm job arrays (``--slurm=true``, and always at ``--scale=paper``, which is never run here), (c) measures every
clock from the runs' curves with the report's machinery and (d) writes a verdict per claim and family by the
rule of :mod:`lightning_clocks.claims.verdicts`: ``claims.md`` (one table), ``claims.json`` and one figure per
claim (matplotlib, the ``report`` extra; skipped with a note when it is missing). ``--dry_run=true`` prints the
runs and the estimated time and launches nothing; ``--run=false`` decides from the runs already there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from lightning_clocks.claims.catalog import CLAIM_IDS, claim
from lightning_clocks.claims.design import FAMILIES, NOT_AT_CPU_SCALE, SCALES, Design, SweepSpec, design
from lightning_clocks.claims.transitive import t1_balance, t2_geometry, t3_language_models
from lightning_clocks.claims.verdicts import (
    Verdict,
    c1_complexity,
    c2_capacity,
    c3_rule_invariance,
    c4_linear_in_n,
    c5a_window_widens_with_n,
    c5b_window_narrows_with_complexity,
    c5c_window_vanishes,
    c6_both_families,
    c8_prediction,
    inconclusive,
)
from lightning_clocks.cli import command_parser, namespace_dict, parse_arguments, split_passthrough
from lightning_clocks.errors import ConfigError
from lightning_clocks.report.runs import RunResult, Thresholds, find_runs, load_run
from lightning_clocks.results import FINISHED, SWEEP_FILE, atomic_write_text, run_status, write_json
from lightning_clocks.sweep.cli import prepare, shorter_than_asked, sweep, write_table
from lightning_clocks.sweep.grid import SweepRun, check_grid, check_seeds, expand_grid
from lightning_clocks.sweep.local import local_jobs, run_local, visible_gpus

CLAIMS_TABLE, CLAIMS_JSON, FIGURES_FOLDER = "claims.md", "claims.json", "figures"
FAMILY_CHOICES = ("gpt", "dit", "both")
#: The x axis of each claim's figure.
FIGURE_X = {
    "C1": "group size G",
    "C2": "model size",
    "C3": "rule",
    "C4": "N",
    "C5a": "log10 N",
    "C5b": "group size G",
    "C8": "N",
}


# ----------------------------------------------------------------------------- planning
def parse_claims(text: str | None) -> list[str]:
    """``C1,C4`` as claim ids (every claim for None); a ConfigError names an unknown id."""
    if text is None:
        return list(CLAIM_IDS)
    canonical = {claim_id.upper(): claim_id for claim_id in CLAIM_IDS}  # c5a, C5A and C5a are one claim
    ids = [canonical.get(item.strip().upper(), item.strip()) for item in str(text).split(",") if item.strip()]
    unknown = [item for item in ids if item not in CLAIM_IDS]
    if unknown or not ids:
        raise ConfigError(f"claims={text!r} is invalid: allowed ids {','.join(CLAIM_IDS)} (comma-separated)")
    return [item for item in CLAIM_IDS if item in ids]


def selected_families(family: str) -> list[str]:
    return list(FAMILIES) if family == "both" else [family]


def needed_sweeps(ids: Sequence[str], families: Sequence[str], scale: str) -> list[tuple[Design, SweepSpec]]:
    """The sweeps the selected claims read, per family, in design order (each once)."""
    needed = []
    for family in families:
        plan = design(family, scale)
        names = set()
        for claim_id in ids:
            item = claim(claim_id)
            if family in item.families or (item.families == ("both",) and len(families) == 2):
                names |= set(item.sweeps)
        needed += [(plan, spec) for spec in plan.sweeps if spec.name in names]
    return needed


def sweep_runs(spec: SweepSpec) -> list[SweepRun]:
    """The runs of one sweep (every grid point times every seed)."""
    return expand_grid(check_grid(spec.grid), check_seeds(list(spec.seeds)))


def steps_left(run_dir: Path, expected: int, max_steps: int) -> int:
    """Steps a run of the design has still to train: the rest of its expected steps when it finished under a
    smaller ``max_steps`` than the design's (it will be extended), none when it finished otherwise, else all."""
    trained = shorter_than_asked(run_dir, max_steps)
    if trained is not None:
        return max(0, expected - trained)
    return 0 if run_status(run_dir) == FINISHED else expected


def plan_lines(needed: Sequence[tuple[Design, SweepSpec]], jobs: int, scale: str, out: Path) -> list[str]:
    """The plan: each sweep's runs and expected steps, and the estimated time (CPU: the whole campaign and what is
    left of it in ``out``) or GPU-hours (paper)."""
    lines = [f"{'family/sweep':<18} {'runs':>4}  {'steps per run (expected; max)':<34} grid"]
    seconds = seconds_left = 0.0
    runs_left = 0
    for plan, spec in needed:
        runs = sweep_runs(spec)
        steps = [spec.steps_of(run.values) for run in runs]
        seconds += sum(steps) / plan.steps_per_second
        left = [
            steps_left(out / plan.family / spec.name / run.name, expected, spec.max_steps)
            for run, expected in zip(runs, steps, strict=True)
        ]
        seconds_left += sum(left) / plan.steps_per_second
        runs_left += sum(1 for value in left if value > 0)
        shown = sorted(set(steps))
        lines.append(
            f"{plan.family + '/' + spec.name:<18} {len(runs):>4}  {str(shown) + f'; {spec.max_steps}':<34} "
            f"{dict(spec.grid)} x seeds {list(spec.seeds)}"
        )
    speeds = sorted({f"{plan.family}: {plan.steps_per_second:g} steps/s ({plan.speed_basis})" for plan, _ in needed})
    if scale == "paper":
        upper = sum(len(sweep_runs(spec)) * spec.max_steps / plan.steps_per_second for plan, spec in needed)
        lines.append(
            f"estimate: {seconds / 3600:,.0f} GPU-hours expected, at most {upper / 3600:,.0f} (every run to "
            f"max_steps), one GPU per run; assumed speeds {speeds}"
        )
    else:
        lines.append(
            f"estimate: {seconds / 60 / jobs:,.0f} minutes with {jobs} runs at once for the whole campaign, "
            f"{seconds_left / 60 / jobs:,.0f} for the {runs_left} runs not yet trained to the design's steps; "
            f"speeds {speeds}"
        )
    return lines


def batch_size(plan: Design) -> int:
    """The batch size of a design's base configs (the smallest, for the rule N >= batch size)."""
    sizes = [yaml.safe_load(spec.config.read_text())["data"]["batch_size"] for spec in plan.sweeps]
    return int(min(sizes))


# ----------------------------------------------------------------------------- running
def run_campaign(
    out: Path, needed: Sequence[tuple[Design, SweepSpec]], jobs: int, extra: Sequence[str], name: str
) -> None:
    """Prepare every sweep (checked configs, sweep.json, sweep.csv) and run all their unfinished runs in one pool
    of ``jobs`` workers, sweep by sweep in the design's order and the shortest expected first within a sweep (a
    stopped campaign has decided its cheapest claims); each sweep's table is rewritten as runs end."""
    combined, commands, order, tables = [], {}, {}, []
    for index, (plan, spec) in enumerate(needed):
        folder = out / plan.family / spec.name
        runs = sweep_runs(spec)
        grid, seeds = check_grid(spec.grid), check_seeds(list(spec.seeds))
        prefix = f"{plan.family}/{spec.name}/"
        for run_name, command in prepare(
            folder, f"{name}-{plan.family}-{spec.name}", str(spec.config), grid, seeds, runs, spec.arguments(extra)
        ).items():
            commands[prefix + run_name] = command
        for run in runs:
            combined.append(SweepRun(prefix + run.name, run.values, run.seed))
            order[prefix + run.name] = (index, spec.steps_of(run.values))
        tables.append((folder, runs))
    combined.sort(key=lambda run: order[run.name])

    def rewrite_tables() -> None:
        for folder, runs in tables:
            write_table(folder, runs)

    run_local(out, combined, commands, name, jobs, on_run_end=rewrite_tables)
    rewrite_tables()


def submit_campaign(
    out: Path,
    needed: Sequence[tuple[Design, SweepSpec]],
    extra: Sequence[str],
    name: str,
    dry_run: bool,
    sbatch_options: list[str] | None,
    setup: list[str] | None,
) -> None:
    """Write (and unless ``dry_run``, submit) one Slurm job array per sweep, through ``clocks sweep``."""
    for plan, spec in needed:
        sweep(
            out / plan.family / spec.name,
            base_config=spec.config,
            grid={key: list(values) for key, values in spec.grid.items()},
            seeds=list(spec.seeds),
            name=f"{name}-{plan.family}-{spec.name}",
            slurm=True,
            dry_run=dry_run or None,
            sbatch_options=sbatch_options,
            setup=setup,
            fit_args=spec.arguments(extra),
        )


# ----------------------------------------------------------------------------- deciding
def finished_runs(folder: Path) -> list[RunResult]:
    """The finished runs of one sweep folder, their clocks measured from their curves."""
    if not (folder / SWEEP_FILE).exists():
        return []
    return [load_run(run, Thresholds()) for run in find_runs(folder) if run.status == FINISHED]


def decide(ids: Sequence[str], families: Sequence[str], scale: str, out: Path) -> list[Verdict]:
    """Every selected claim's verdict per family from the runs under ``out``."""
    loaded: dict[tuple[str, str], list[RunResult]] = {}

    def runs_of(family: str, *sweeps: str) -> list[RunResult]:
        for name in sweeps:
            if (family, name) not in loaded:
                loaded[(family, name)] = finished_runs(out / family / name)
        return [run for name in sweeps for run in loaded[(family, name)]]

    verdicts: list[Verdict] = []
    for claim_id in ids:
        item = claim(claim_id)
        if claim_id.startswith("T"):
            verdicts.append({"T1": t1_balance, "T2": t2_geometry, "T3": t3_language_models}[claim_id]())
            continue
        if item.families == ("both",):
            if len(families) < 2:
                verdicts.append(inconclusive("C6", "both", "not run: needs --family=both"))
            else:
                verdicts.append(c6_both_families(runs_of("gpt", "shared"), runs_of("dit", "shared")))
            continue
        for family in families:
            if family not in item.families:
                continue
            plan = design(family, scale)
            missing = [name for name in item.sweeps if plan.sweep(name) is None and name in NOT_AT_CPU_SCALE]
            if claim_id in ("C3", "C4", "C5a", "C8") and missing:
                reason = f"not run at this scale: {NOT_AT_CPU_SCALE[missing[0]]}; --scale=paper designs it"
                verdicts.append(inconclusive(claim_id, family, reason))
                continue
            verdicts.append(decide_one(claim_id, family, plan, runs_of))
    return verdicts


def decide_one(claim_id: str, family: str, plan: Design, runs_of: Any) -> Verdict:
    """One family's verdict on one claim C1-C8 from its design's runs."""
    at_reference = [run for run in runs_of(family, "complexity") if run.n_train == plan.reference_n and is_parity(run)]
    if claim_id == "C1":
        return c1_complexity(family, at_reference)
    if claim_id == "C2":
        return c2_capacity(family, capacity_axes(family, runs_of(family, "depth"), runs_of(family, "width")))
    if claim_id == "C3":
        second = [run for run in runs_of(family, "rule2") if run.n_train == plan.reference_n]
        return c3_rule_invariance(family, at_reference + second)
    if claim_id == "C4":
        return c4_linear_in_n(family, runs_of(family, "n"), batch_size(plan))
    if claim_id == "C5a":
        return c5a_window_widens_with_n(family, runs_of(family, "n"), batch_size(plan))
    if claim_id == "C5b":
        return c5b_window_narrows_with_complexity(family, at_reference)
    if claim_id == "C5c":
        return c5c_window_vanishes(family, runs_of(family, "n", "complexity", "rule2", "shared"))
    if claim_id == "C7":
        return c7_basins(runs_of(family, "basins"))
    return c8_prediction(family, runs_of(family, "n"), batch_size(plan))


def is_parity(run: RunResult) -> bool:
    return run.summary.get("rule", {}).get("name") == "group_parity"


def capacity_axes(family: str, depth: list[RunResult], width: list[RunResult]) -> dict[str, list[RunResult]]:
    """C2's two axes: the depth sweep, and the width sweep with the depth sweep's runs at the width sweep's depth
    (its base model)."""
    depth_key, width_key = ("n_layer", "n_embd") if family == "gpt" else ("depth", "width")
    base_depths = {run.capacity(depth_key) for run in width}
    return {
        depth_key: depth,
        width_key: width + [run for run in depth if run.capacity(depth_key) in base_depths],
    }


def c7_basins(runs: list[RunResult]) -> Verdict:
    """C7 through the basins calibration (``lightning_clocks.basins.calibration.c7_verdict``), imported lazily:
    ``inconclusive`` while it is not available."""
    try:
        from lightning_clocks.basins.calibration import c7_verdict
    except ImportError:
        return inconclusive("C7", "dit", "calibrated basins not available", len(runs))
    if not runs:
        return inconclusive("C7", "dit", "too few runs: no finished basins run")
    result = c7_verdict([run.path for run in runs])
    return Verdict(
        "C7",
        "dit",
        result["verdict"],
        result["reason"],
        "basins calibration",
        result.get("value"),
        result.get("low"),
        result.get("high"),
        len(runs),
        {"per_seed": result.get("details", [])},
    )


# ----------------------------------------------------------------------------- writing
def number(verdict: Verdict) -> str:
    """``value [low, high]`` as the table shows it."""
    if verdict.value is None:
        return "-"
    text = f"{verdict.value:.3g}"
    if verdict.low is not None and verdict.high is not None:
        text += f" [{verdict.low:.3g}, {verdict.high:.3g}]"
    return text


def command_of(verdict: Verdict, scale: str) -> str:
    family = "both" if verdict.family in ("both", "kernel", "lm") else verdict.family
    return f"clocks claims --scale={scale} --claims={verdict.claim} --family={family}"


def write_outputs(out: Path, verdicts: Sequence[Verdict], scale: str, seconds: float) -> Path:
    """``claims.md`` (one table), ``claims.json`` and a figure per claim; returns the table's path."""
    rows = [
        "| claim | family | verdict | number [95% interval] | quantity | why | decision rule | command |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for verdict in verdicts:
        cells = [
            f"{verdict.claim}: {claim(verdict.claim).quote}",
            verdict.family,
            f"**{verdict.verdict}**",
            number(verdict),
            verdict.quantity or "-",
            verdict.reason,
            claim(verdict.claim).rule,
            f"`{command_of(verdict, scale)}`",
        ]
        rows.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    figures = write_figures(out / FIGURES_FOLDER, verdicts)
    lines = [
        f"# Claims at scale `{scale}`",
        "",
        "Decision rules and designs: docs/claims.md. Verdicts from the finished runs under this folder.",
        "",
        *rows,
        "",
        *[f"![{name}]({path.relative_to(out).as_posix()})" for name, path in figures.items()],
    ]
    table = out / CLAIMS_TABLE
    atomic_write_text(table, "\n".join(lines) + "\n")
    write_json(
        out / CLAIMS_JSON,
        {"scale": scale, "seconds": seconds, "verdicts": [verdict.to_dict() for verdict in verdicts]},
    )
    return table


def write_figures(folder: Path, verdicts: Sequence[Verdict]) -> dict[str, Path]:
    """One figure per claim with run data: each run's clock (or window) against the varied setting, one colour per
    family, censored runs as open triangles at their lower bound. Nothing without matplotlib."""
    try:
        from lightning_clocks.report.figures import pyplot, save
    except ImportError:
        return {}
    with_data: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        if verdict.details.get("data"):
            with_data.setdefault(verdict.claim, []).append(verdict)
    if not with_data:
        return {}
    try:
        plt = pyplot()
    except ConfigError as error:
        print(f"[claims] no figures: {error}")
        return {}
    paths = {}
    colours = {"gpt": "tab:orange", "dit": "tab:purple"}
    for claim_id, items in with_data.items():
        figure, axis = plt.subplots(figsize=(5, 3.5))
        for verdict in items:
            data = verdict.details["data"]
            colour = colours.get(verdict.family, "tab:blue")
            for censored, marker in ((False, "o"), (True, "^")):
                points = [
                    (x, y) for x, y, c in zip(data["x"], data["y"], data["censored"], strict=True) if c == censored
                ]
                if points:
                    axis.scatter(
                        [x for x, _ in points],
                        [y for _, y in points],
                        marker=marker,
                        facecolors=colour if not censored else "none",
                        edgecolors=colour,
                        label=f"{verdict.family}{' (bound)' if censored else ''}: {verdict.verdict}",
                    )
            axis.set_ylabel(data["label"])
        if items[0].details["data"]["label"].startswith("tau"):
            axis.set_yscale("log")
        axis.set_xlabel(FIGURE_X.get(claim_id, ""))
        if claim_id in ("C4", "C8"):
            axis.set_xscale("log")
        if any(isinstance(x, str) for verdict in items for x in verdict.details["data"]["x"]):
            axis.tick_params(axis="x", labelrotation=30, labelsize=7)
        axis.set_title(f"{claim_id}: {claim(claim_id).quote[:60]}", fontsize=8)
        axis.legend(fontsize=7)
        paths[claim_id] = save(figure, folder / f"{claim_id}.png")
    return paths


# ----------------------------------------------------------------------------- the command
def claims(
    scale: str = "cpu",
    claims: str | None = None,
    family: str = "both",
    out: Path | None = None,
    jobs: int | None = None,
    dry_run: bool = False,
    run: bool = True,
    slurm: bool = False,
    sbatch_options: list[str] | None = None,
    setup: list[str] | None = None,
    seeds: list[int] | None = None,
    fit_args: list[str] | None = None,
) -> int:
    """Decide the abstracts' claims: design the sweeps, run them (resuming), write verdicts (docs/claims.md).

    Args:
        scale: cpu (run here) or paper (36 bits, configs/parity_*.yaml: Slurm scripts and GPU-hours, not run).
        claims: comma-separated claim ids, e.g. C1,C4 (default: all; docs/claims.md lists them).
        family: gpt, dit or both (C6 needs both; C7 is DiT-only).
        out: the campaign folder (default runs/claims/<scale>); runs go to <out>/<family>/<sweep>/<run>.
        jobs: runs at once on this machine (default: one per core, or per GPU).
        dry_run: print the runs and the estimated time; launch and write nothing (with slurm: write the scripts
            without submitting them).
        run: launch the unfinished runs (false: decide from the runs already finished).
        slurm: write one Slurm job array per sweep and submit it (rerun with --run=false once they finish).
        sbatch_options: with slurm or paper scale: extra #SBATCH lines, e.g. [--gres=gpu:1,--time=04:00:00].
        setup: with slurm or paper scale: shell lines run before the runs, e.g. ['source .venv/bin/activate'].
        seeds: seeds of every design point instead of the design's (fewer than 3 decide nothing: too few runs).
        fit_args: clocks fit options for every run, after the design's (on the command line: after --).
    """
    if scale not in SCALES:
        raise ConfigError(f"scale={scale!r} is invalid: allowed {' or '.join(SCALES)}")
    if family not in FAMILY_CHOICES:
        raise ConfigError(f"family={family!r} is invalid: allowed {', '.join(FAMILY_CHOICES)}")
    if jobs is not None and jobs < 1:
        raise ConfigError(f"jobs={jobs} is invalid: it must be a positive integer")
    slurm_used = slurm or scale == "paper"
    if not slurm_used and (sbatch_options or setup):
        raise ConfigError("sbatch_options and setup only apply with --slurm=true or --scale=paper")
    if slurm_used and jobs is not None:
        raise ConfigError(f"jobs={jobs} does not apply to Slurm: every array task runs its runs on its own GPU")
    ids, families = parse_claims(claims), selected_families(family)
    out = Path(out or Path("runs") / "claims" / scale).resolve()
    extra = list(fit_args or [])
    needed = needed_sweeps(ids, families, scale)
    if seeds is not None:
        check_seeds(seeds)
        needed = [(plan, replace(spec, seeds=tuple(seeds))) for plan, spec in needed]
    workers = 1 if slurm_used else local_jobs(jobs, None, visible_gpus())
    for line in plan_lines(needed, workers, scale, out):
        print(f"[claims] {line}")
    name = f"claims-{scale}"
    if scale == "paper" or slurm:
        submit_campaign(out, needed, extra, name, dry_run or scale == "paper", sbatch_options, setup)
        print(f"[claims] Slurm scripts under {out}; rerun with --run=false once the runs have finished")
        return 0
    if dry_run:
        return 0
    start = time.monotonic()
    if run and needed:
        run_campaign(out, needed, workers, extra, name)
    verdicts = decide(ids, families, scale, out)
    table = write_outputs(out, verdicts, scale, time.monotonic() - start)
    print(f"[claims] {table} ({(time.monotonic() - start) / 60:.1f} min)")
    for verdict in verdicts:
        print(f"  {verdict.claim:<4} {verdict.family:<6} {verdict.verdict:<15} {number(verdict)}  {verdict.reason}")
    return 0


def main(argv: Sequence[str]) -> int:
    """``clocks claims``: parse the options (and the fit arguments after ``--``) and decide the claims."""
    own, passthrough = split_passthrough(argv)
    parser = command_parser("clocks claims", (claims.__doc__ or "").split("\n\n")[0])
    parser.add_function_arguments(claims, skip={"fit_args"})
    arguments = namespace_dict(parse_arguments(parser, own))
    return claims(**arguments, fit_args=passthrough)
