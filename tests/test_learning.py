"""Real learning on CPU with fixed seeds: validity rises above chance, then copying starts."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
from conftest import quiet_trainer

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.data import RuleDataModule
from lightning_clocks.modules import AutoregressiveModule, DiffusionModule
from lightning_clocks.results import read_curves
from lightning_clocks.rules import GroupParity


def fit(module: L.LightningModule, data: RuleDataModule, clock: ClockCallback, run_dir: Path, max_steps: int):
    trainer = quiet_trainer(run_dir, max_steps, [clock])
    trainer.fit(module, datamodule=data)
    return read_curves(run_dir / "curves.csv")


@pytest.mark.slow
def test_gpt_learns_the_rule_before_it_memorizes(tmp_path: Path) -> None:
    L.seed_everything(0)
    # N = 128 of the 65,536 valid sequences: the GPT copies after about 600 steps (tau_mem grows as N).
    data = RuleDataModule(GroupParity(24, 3), n_train=128, batch_size=64, seed=0)
    module = AutoregressiveModule(n_layer=2, n_head=4, n_embd=64, lr=1e-3, sequence_length=24, vocab_size=2)
    clock = ClockCallback(
        eval_steps=[50, 100, 150, 200, 300, 400, 500, 650, 800, 1000, 1250, 1500],
        num_samples=256,
        mem_threshold=0.5,
        stop_when_memorized=True,
        stop_copy_rate=0.6,
    )
    curves = fit(module, data, clock, tmp_path, 1500)
    clocks = clock.clocks()
    assert max(curves["validity"]) > 0.5, curves["validity"]
    assert max(curves["mem_excess"]) > 0.5, curves["mem_excess"]
    assert clocks.tau_rule is not None and clocks.tau_mem is not None
    assert clocks.tau_rule < clocks.tau_mem
    assert clocks.window_open


@pytest.mark.slow
def test_dit_in_the_quickstart_setting_learns_the_rule_before_it_copies(tmp_path: Path) -> None:
    """configs/quickstart_dit.yaml's rule, N and model, cut to 700 steps: its samples become valid while it
    copies few of its training sequences."""
    L.seed_everything(0)
    rule = GroupParity(24, 2)  # 4,096 valid sequences: chance validity 1/4,096, N is 1/128 of them
    data = RuleDataModule(rule, n_train=32, batch_size=64, seed=0)
    module = DiffusionModule(
        sequence_length=24, vocab_size=2, depth=2, width=64, heads=4, lr=2e-3, p_mean=0.0, sampler_steps=10
    )
    clock = ClockCallback(eval_steps=[10, 700], num_samples=256)
    curves = fit(module, data, clock, tmp_path, 700)
    assert curves["validity"][0] < 0.01, curves["validity"]
    assert curves["validity"][-1] > 0.3, curves["validity"]  # over 1,000x chance
    assert curves["novel_valid"][-1] > 0.2, curves["novel_valid"]  # new valid sequences, not copies
    assert curves["mem_excess"][-1] < curves["validity"][-1] / 3, curves  # copying has barely begun
