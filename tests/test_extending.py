"""The two recipes of docs/extending.md, followed in a test: a new rule and a new model family, trained for real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO, quiet_trainer
from torch import nn

from lightning_clocks.basins import BasinCallback
from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.cli import main
from lightning_clocks.data import RuleDataModule
from lightning_clocks.errors import ConfigError, require_positive
from lightning_clocks.modules.base import GenerativeModule
from lightning_clocks.rules import RULES, GroupParity
from lightning_clocks.rules.base import GroupedRule


# ----------------------------------------------------------------------------- recipe 1: a rule
class AllEqual(GroupedRule):
    """Every contiguous group of ``group_size`` bits holds one value (the recipe's step 1: one rule class)."""

    name = "all_equal"

    def __init__(self, length: int = 12, group_size: int = 3) -> None:
        """
        Args:
            length: number of bits L.
            group_size: bits per group G (the complexity knob); must divide ``length``; at least 2.
        """
        require_positive("data.rule.group_size", group_size)
        if group_size < 2:
            raise ConfigError(
                f"data.rule.group_size={group_size} is invalid: every sequence would be valid; allowed: >= 2"
            )
        super().__init__(length=length, group_size=group_size, vocab_size=2)

    @property
    def valid_count(self) -> int:
        return 2**self.num_groups

    def groups_ok(self, sequences: torch.Tensor) -> torch.Tensor:
        self.check_sequences(sequences)
        groups = sequences.reshape(-1, self.num_groups, self.group_size)
        return (groups == groups[:, :, :1]).all(dim=-1) & ((groups == 0) | (groups == 1)).all(dim=-1)

    def is_valid(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.groups_ok(sequences).all(dim=-1)

    def part_validity(self, sequences: torch.Tensor) -> torch.Tensor:
        return self.groups_ok(sequences).float().mean(dim=-1)

    def sample(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        coins = torch.randint(0, 2, (num_samples, self.num_groups), generator=generator)
        return coins.repeat_interleave(self.group_size, dim=1)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "group_size": self.group_size}


def test_a_rule_added_by_the_recipe_trains_through_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(RULES, AllEqual.name, AllEqual)  # the recipe's step 2: one line in the registry
    # Brute force checks the rule's own counts, as the recipe asks.
    rule = AllEqual(length=6, group_size=3)
    every = torch.tensor([[(code >> bit) & 1 for bit in range(6)] for code in range(64)])
    assert int(rule.is_valid(every).sum()) == rule.valid_count == 4
    assert bool(rule.is_valid(rule.sample(50, torch.Generator().manual_seed(0))).all())

    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "fit",
                f"--config={REPO / 'configs' / 'quickstart.yaml'}",
                "--data.rule=all_equal",
                "--data.rule.length=15",
                "--data.rule.group_size=3",
                "--data.n_train=4",
                "--trainer.max_steps=300",
                "--trainer.logger=false",
                "--trainer.enable_progress_bar=false",
                "--clocks.num_samples=128",
                "--clocks.eval_steps=[10,300]",
                "--model.lr=0.01",
                f"--trainer.default_root_dir={run_dir}",
            ]
        )
    assert exit_info.value.code == 0, capsys.readouterr().err
    summary = json.loads((run_dir / "clocks.json").read_text())
    assert summary["rule"] == {
        "name": "all_equal",
        "length": 15,
        "vocab_size": 2,
        "complexity": 3.0,
        "valid_count": 32,
        "group_size": 3,
    }
    # Chance validity is 2^-10 (0.001); the GPT learns that a group repeats its first bit.
    assert summary["final_metrics"]["validity"] > 0.25
    assert summary["tau_rule"] is not None


# ----------------------------------------------------------------------------- recipe 2: a model family
class IndependentCells(GenerativeModule):
    """Each cell drawn on its own from learned logits: a model family with no interaction between cells."""

    family = "cells"
    capacity_keys = ()

    def __init__(self, sequence_length: int = 12, vocab_size: int = 2, **kwargs: Any) -> None:
        super().__init__(sequence_length, vocab_size, **kwargs)
        self.logits = nn.Parameter(torch.zeros(sequence_length, vocab_size))

    def training_noise(self, batch_size: int, step: int, rank: int) -> tuple[torch.Tensor, ...]:
        return ()

    def loss_given_noise(self, batch: torch.Tensor) -> torch.Tensor:
        logits = self.logits.expand(batch.shape[0], -1, -1)
        return F.cross_entropy(logits.reshape(-1, self.vocab_size), batch.reshape(-1))

    def sampling_noise(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(num_samples, self.sequence_length, generator=generator)

    def samples_from_noise(self, noise: torch.Tensor) -> torch.Tensor:
        cdf = torch.softmax(self.logits, dim=-1).cumsum(dim=-1)
        return (cdf.unsqueeze(0) < noise.unsqueeze(-1)).sum(dim=-1).clamp(max=self.vocab_size - 1)


def test_a_model_family_added_by_the_recipe_gets_clocks_without_dispatch(tmp_path: Path) -> None:
    data = RuleDataModule(GroupParity(length=12, group_size=2), n_train=16, batch_size=32, seed=0)
    module = IndependentCells(sequence_length=12, vocab_size=2, lr=0.05)
    clock = ClockCallback(eval_steps=[5, 60], num_samples=512, sample_batch_size=512)
    quiet_trainer(tmp_path, 60, [clock]).fit(module, datamodule=data)
    summary = json.loads((tmp_path / "clocks.json").read_text())
    assert summary["model"]["family"] == "cells" and summary["model"]["capacity_keys"] == []
    # Cells that do not interact cannot learn parity: validity stays at chance, 2^-6, and no training set is copied.
    final = summary["final_metrics"]
    assert final["validity"] < 0.06 and final["copy_rate"] < 0.02
    assert summary["tau_rule"] is None
    with pytest.raises(ConfigError, match="IndependentCells does not measure basins"):
        quiet_trainer(tmp_path / "basins", 2, [BasinCallback(eval_steps=[1])]).fit(module, datamodule=data)
