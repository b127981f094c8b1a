"""Every bad input, across every subcommand, is refused before anything runs: one ``clocks: error:`` line naming the
option, the value and what is allowed, exit status 2, no traceback, no usage, nothing written.

The cases run in this process (``clocks`` behaves the same in a subprocess: see test_cli.py) so that the table
stays fast."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from conftest import REPO

from lightning_clocks.cli import main

QUICKSTART = str(REPO / "configs" / "quickstart.yaml")
FIT = ["fit", "--config", QUICKSTART, "--trainer.max_steps=20", "--trainer.logger=false"]
TI_FIT = ["ti-fit", "--config", str(REPO / "configs" / "ti_mlp.yaml"), "--trainer.logger=false"]
SWEEP = ["sweep", f"--base_config={QUICKSTART}"]

#: A YAML "billion laughs": 9 levels of 9 aliases each, 9**9 items once expanded.
ANCHOR_BOMB = "".join(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]\n" for level in range(1, 10))
ANCHOR_BOMB = "l0: &l0 [lol]\n" + ANCHOR_BOMB

#: (arguments, what the one line must say). ``OUT`` stands for a fresh folder that must stay unwritten.
BAD_INPUT: list[tuple[list[str], str]] = [
    # fit: the trainer
    ([*FIT, "--trainer.max_steps=-5"], "trainer.max_steps=-5 is invalid; allowed: -1 (no limit) or an integer >= 1"),
    ([*FIT, "--trainer.max_steps=0"], "trainer.max_steps=0 is invalid"),
    ([*FIT, "--trainer.max_steps=abc"], "trainer.max_steps='abc' is invalid; allowed: int"),
    ([*FIT, "--trainer.accelerator=tpu"], "trainer.accelerator='tpu' is not available on this machine; allowed:"),
    ([*FIT, "--trainer.devices=0"], "Trainer(devices='0')"),
    ([*FIT, "--trainer.strategy=nope"], "trainer.strategy='nope' is unknown; allowed: ['auto',"),
    ([*FIT, "--trainer.precision=77"], "trainer.precision='77' is invalid; allowed:"),
    ([*FIT, "--seed_everything=abc"], "seed_everything='abc' is invalid; allowed: bool or int"),
    # fit: options that do not exist, or are not ours to set
    ([*FIT, "--nonsense=1"], "option --nonsense is unknown"),
    ([*FIT, "--clocks.num_sample=64"], "option --clocks.num_sample is unknown; did you mean ['clocks.num_samples'"),
    ([*FIT, "--optimizer=SGD"], "option --optimizer is unknown"),
    ([*FIT, "--lr_scheduler=StepLR"], "option --lr_scheduler is unknown"),
    ([*FIT, "--model.sequence_length=10"], "model.sequence_length=10 cannot be set: it is linked from the data"),
    ([*FIT, "--model.vocab_size=3"], "model.vocab_size=3 cannot be set: it is linked from the data"),
    ([*FIT, "--model.init_args.nope=3"], "model.nope is not an option of AutoregressiveModule; allowed: ['sequence"),
    ([*FIT, "--data.rule.knob=3"], "data.rule.knob is not an option of GroupParity; allowed: ['length', 'group_size'"),
    ([*FIT, "--data.rule=sudoku", "--data.rule.box=7"], "data.rule.box is not an option of Sudoku; allowed:"),
    ([*FIT, "--data.rule=sudokuu"], "data.rule='sudokuu' is unknown; allowed: ['exact_weight',"),
    ([*FIT, "--model=transformer"], "model='transformer' is unknown; allowed: ['dit', 'gpt']"),
    ([*FIT, "--ckpt_path=/nonexistent.ckpt"], "ckpt_path=/nonexistent.ckpt does not exist"),
    ([*FIT, f"--ckpt_path={QUICKSTART}"], "is not a checkpoint (empty, truncated or another format)"),
    # fit: the data
    ([*FIT, "--data.n_train=0"], "data.n_train=0 is invalid: it must be a positive integer"),
    ([*FIT, "--data.n_train=abc"], "data.n_train='abc' is invalid; allowed: int"),
    ([*FIT, "--data.n_train=40000"], "data.n_train=40000 plus data.n_control=40000 exceeds the 65536 valid"),
    ([*FIT, "--data.n_control=0"], "data.n_control=0 is invalid"),
    ([*FIT, "--data.batch_size=0"], "data.batch_size=0 is invalid"),
    ([*FIT, "--data.batch_size=100000000000"], "data.batch_size=100000000000 is too large"),
    ([*FIT, "--data.seed=-1"], "data.seed=-1 is invalid"),
    ([*FIT, "--data.rule.length=0"], "data.rule.length=0 is invalid"),
    ([*FIT, "--data.rule.length=-6"], "data.rule.length=-6 is invalid"),
    ([*FIT, "--data.rule.group_size=5"], "data.rule.group_size=5 does not divide data.rule.length=24"),
    ([*FIT, "--data.rule.layout=spiral"], "data.rule.layout='spiral' is invalid; allowed: one of ['contiguous',"),
    ([*FIT, "--data.rule=group_sum_mod", "--data.rule.modulus=1"], "is degenerate: all 16777216 sequences"),
    # fit: the model
    ([*FIT, "--model.n_layer=0"], "model.n_layer=0 is invalid"),
    ([*FIT, "--model.n_head=3"], "model.n_embd=64 must be divisible by model.n_head=3"),
    ([*FIT, "--model.lr=-1"], "model.lr=-1.0 is invalid"),
    ([*FIT, "--model.weight_decay=-1"], "model.weight_decay=-1.0 is invalid"),
    ([*FIT, "--model.betas=[0.9,1.5]"], "model.betas=[0.9, 1.5] is invalid"),
    ([*FIT, "--model.warmup_steps=-3"], "model.warmup_steps=-3 is invalid"),
    ([*FIT, "--model.dropout=2"], "model.dropout=2.0 is invalid; allowed: a rate in [0, 1)"),
    ([*FIT, "--model.temperature=0"], "model.temperature=0.0 is invalid"),
    ([*FIT, "--model.compile_mode=fast"], "model.compile_mode='fast' is unknown; allowed: ['null (eager)'"),
    ([*FIT, "--model=dit", "--model.p_mean=abc"], "model.p_mean='abc' is invalid; allowed: float"),
    ([*FIT, "--model=dit", "--model.preset=huge"], "model.preset='huge' is unknown; allowed:"),
    # fit: the clocks
    ([*FIT, "--clocks.rule_threshold=1.5"], "clocks.rule_threshold=1.5 is invalid: a threshold must lie in (0, 1]"),
    ([*FIT, "--clocks.mem_threshold=0"], "clocks.mem_threshold=0.0 is invalid"),
    ([*FIT, "--clocks.stop_copy_rate=2"], "clocks.stop_copy_rate=2.0 is invalid"),
    ([*FIT, "--clocks.smoothing=-1"], "clocks.smoothing=-1.0 is invalid"),
    ([*FIT, "--ema.decay=1.5"], "ema.decay=1.5 is invalid; allowed: null (off) or a number in (0, 1)"),
    ([*FIT, "--ema.decay=0"], "ema.decay=0.0 is invalid"),
    ([*FIT, "--ema.start_step=-1"], "ema.start_step=-1 is invalid; allowed: an integer >= 0"),
    ([*FIT, "--clocks.num_samples=0"], "clocks.num_samples=0 is invalid"),
    ([*FIT, "--clocks.sample_batch_size=0"], "clocks.sample_batch_size=0 is invalid"),
    ([*FIT, "--clocks.num_evaluations=0"], "clocks.num_evaluations=0 is invalid"),
    ([*FIT, "--clocks.first_step=0"], "clocks.first_step=0 is invalid"),
    ([*FIT, "--clocks.first_step=500"], "clocks.first_step=500 is beyond trainer.max_steps=20"),
    ([*FIT, "--clocks.eval_steps=[5,500]"], "clocks.eval_steps ends at 500, beyond trainer.max_steps=20"),
    ([*FIT, "--clocks.eval_steps=[20,10]"], "strictly increasing"),
    ([*FIT, "--clocks.near_copy_distance=-1"], "clocks.near_copy_distance=-1 is invalid; allowed: an integer from 0"),
    ([*FIT, "--clocks.near_copy_distance=100"], "clocks.near_copy_distance=100 is invalid"),
    # fit: sizes that would exhaust memory or time
    ([*FIT, "--clocks.num_evaluations=1000000000"], "clocks.num_evaluations=1000000000 is too large: allowed at"),
    ([*FIT, "--data.rule.length=1000000000000"], "data.rule.length=1000000000000 is too large: allowed at most"),
    # config files
    (["fit", "--config", "CONFIG:"], "is empty; allowed: a YAML mapping of options"),
    (["fit", "--config", "CONFIG:- a\n- b\n"], "holds a list; allowed: a YAML mapping of options"),
    (["fit", "--config", "CONFIG:trainer: [\n"], "is not valid YAML at line 2"),
    (["fit", "--config", "CONFIG:model:\n  init_args:\n    sequence_length: 10\n", "--config", QUICKSTART], "linked"),
    (["fit", "--config", "/nonexistent.yaml"], "--config /nonexistent.yaml does not exist"),
    (
        ["fit", "--config", "CONFIG:trainer:\n  max_steps: 5\ntrainer:\n  logger: false\n"],
        "repeats the key 'trainer' at",
    ),
    (["fit", "--config", "CONFIG:" + ANCHOR_BOMB], "expands to 926177116 values through its YAML aliases (*name)"),
    # validate
    (["validate", "--config", QUICKSTART], "ckpt_path is required by validate"),
    (["validate", "--config", QUICKSTART, "--ckpt_path=/nonexistent.ckpt"], "ckpt_path=/nonexistent.ckpt does not"),
    (["validate", "--ckpt_path=/nonexistent.ckpt"], "missing required options"),
    # ti-fit
    ([*TI_FIT, "--data.num_items=1"], "data.num_items=1 is too small"),
    ([*TI_FIT, "--model.num_items=5"], "model.num_items=5 cannot be set: it is linked from the data"),
    ([*TI_FIT, "--data.nope=1"], "option --data.nope is unknown"),
    # ti
    (["ti", "--num_items=1"], "num_items=1 is too small"),
    (["ti", "--num_items=abc"], "num_items='abc' is invalid; allowed: int"),
    (["ti", "--num_items=1000000"], "num_items=1000000 is too large: allowed at most"),
    (["ti", "--alpha=-1"], "alpha=-1.0 is out of range"),
    (["ti", "--variant=nope"], "variant='nope' is unknown"),
    (["ti", "--output=xml"], "output='xml' is invalid; allowed: one of ['table', 'json']"),
    # report
    (["report", "/nonexistent"], "report path /nonexistent is not a folder"),
    (["report", "OUT", "--rule_threshold=2"], "rule_threshold=2.0 is invalid"),
    (["report", "OUT", "--smoothing=-1"], "smoothing=-1.0 is invalid"),
    (["report", "OUT", "--nope=1"], "option --nope is unknown"),
    # sweep
    ([*SWEEP[:1], "--base_config=/nonexistent", "--out=OUT"], "base_config=/nonexistent is not a file"),
    ([*SWEEP, "--out=OUT", "--grid=[1,2]"], "grid='[1, 2]' is invalid; allowed: dict"),
    ([*SWEEP, "--out=OUT", "--seeds=[0,0]"], "seeds=[0, 0] is invalid"),
    ([*SWEEP, "--out=OUT", "--jobs=0"], "jobs=0 is invalid"),
    ([*SWEEP, "--out=OUT", '--grid={"data.nope": [1, 2]}'], "the sweep was not started, a run's config is bad: run"),
    ([*SWEEP, "--out=OUT", '--grid={"data.rule.group_size": [3, 5]}'], "data.rule.group_size=5 does not divide"),
    (
        [
            *SWEEP,
            "--out=OUT",
            f"--grid={{data.n_train: {list(range(1, 101))}, data.batch_size: {list(range(1, 101))}}}",
        ],
        "grid gives 10000 runs (100 x 100 values x 1 seeds); allowed: at most max_runs=1000",
    ),
    ([*SWEEP, "--out=OUT\nsrun evil", "--slurm=true"], "holds a control character (a newline?)"),
    ([*SWEEP, "--out=OUT", "--max_runs=0"], "max_runs=0 is invalid"),
    # ensemble
    (["ensemble", "--base_config=/nonexistent", "--seeds=[0,1]", "--out=OUT"], "base_config=/nonexistent is not a"),
    (["ensemble", f"--base_config={QUICKSTART}", "--seeds=[]", "--out=OUT"], "seeds=[] is invalid"),
    (["ensemble", f"--base_config={QUICKSTART}", "--seeds=[0]", "--out=OUT", "--nope=1"], "option --nope is unknown"),
    # basins
    (["basins", "/nonexistent"], "argument '/nonexistent' is not expected"),
    (["basins", "--run=/nonexistent"], "/nonexistent"),
    # claims
    (["claims", "--claims=C1,C9", "--out=OUT"], "claims='C1,C9' is invalid: allowed ids"),
    (["claims", "--scale=gpu", "--out=OUT"], "scale='gpu' is invalid: allowed cpu or paper"),
    (["claims", "--family=vae", "--out=OUT"], "family='vae' is invalid"),
    (["claims", "--seeds=[0,0]", "--out=OUT"], "seeds=[0, 0] is invalid"),
    # the command itself
    (["test"], "subcommand 'test' is unknown; allowed: ['fit', 'validate',"),
    (["predict"], "subcommand 'predict' is unknown"),
]


def materialize(argv: list[str], folder: Path) -> list[str]:
    """The case's arguments with ``OUT`` made a path in ``folder`` and ``CONFIG:<text>`` a file holding the text."""
    arguments = []
    for index, arg in enumerate(argv):
        if arg.startswith("CONFIG:"):
            config = folder / f"config{index}.yaml"
            config.write_text(arg.removeprefix("CONFIG:"))
            arg = str(config)
        arguments.append(arg.replace("OUT", str(folder / "out")))
    if arguments[0] in ("fit", "validate", "ti-fit"):
        arguments.append(f"--trainer.default_root_dir={folder / 'out'}")
    return arguments


def test_the_table_covers_every_subcommand() -> None:
    from lightning_clocks.cli import COMMANDS

    assert len(BAD_INPUT) >= 60
    assert {command.name for command in COMMANDS} <= {argv[0] for argv, _ in BAD_INPUT}


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT, ids=[" ".join(argv[-1:])[:40] for argv, _ in BAD_INPUT])
def test_bad_input_is_refused_in_one_line_before_anything_is_written(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as stop:
        main(materialize(argv, tmp_path))
    lines = [line for line in err.getvalue().splitlines() if line.startswith(("clocks", "usage", "Traceback"))]
    assert stop.value.code == 2, err.getvalue()[-2000:]
    assert len(lines) == 1 and lines[0].startswith("clocks: error: "), err.getvalue()[-2000:]
    assert message in lines[0], lines[0]
    assert not (tmp_path / "out").exists()
