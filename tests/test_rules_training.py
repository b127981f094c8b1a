"""Both model families learn a puzzle and a new binary rule on CPU from the shipped CPU configs."""

from __future__ import annotations

import importlib
from pathlib import Path

import lightning as L
import pytest
import yaml
from conftest import REPO, quiet_trainer

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.data import RuleDataModule
from lightning_clocks.modules import GenerativeModule
from lightning_clocks.results import read_curves


def instantiate(spec: dict, **extra: object) -> object:
    """Build ``class_path`` with ``init_args`` (and ``extra``), as the CLI does."""
    module_name, class_name = spec["class_path"].rsplit(".", 1)
    return getattr(importlib.import_module(module_name), class_name)(**spec.get("init_args", {}), **extra)


def build(config_name: str, **data_overrides: object) -> tuple[GenerativeModule, RuleDataModule]:
    """Model and data from a shipped CPU config; the model's length and vocabulary linked from the rule."""
    config = yaml.safe_load((REPO / "configs" / "cpu" / config_name).read_text())
    rule_spec = {
        **config["data"]["rule"],
        "init_args": {**config["data"]["rule"].get("init_args", {}), **data_overrides.pop("rule_args", {})},
    }
    data_args = {**{key: value for key, value in config["data"].items() if key != "rule"}, **data_overrides}
    data = RuleDataModule(rule=instantiate(rule_spec), **data_args)
    module = instantiate(config["model"], sequence_length=data.sequence_length, vocab_size=data.vocab_size)
    return module, data


#: (config, data overrides, steps, validity must exceed this multiple of chance, novel valid samples expected)
CASES = [
    # N = 72 of the 288 grids: the GPT learns valid grids mostly by copying them, so only validity is claimed.
    ("sudoku_gpt.yaml", {}, 600, 1e6, False),  # chance 6.7e-8
    ("exact_weight_gpt.yaml", {}, 600, 20, True),  # chance 0.0198
    ("mirror_symmetry_dit.yaml", {}, 500, 20, True),  # chance 1/256
    # The CPU DiT does not learn 4x4 puzzles in thousands of steps; on 3x3 Latin squares it learns by copying.
    ("latin_square_dit.yaml", {"rule_args": {"size": 3}, "n_train": 3}, 500, 10, False),  # chance 12 / 3^9
]


@pytest.mark.slow
@pytest.mark.parametrize(("config_name", "overrides", "steps", "above_chance", "novel"), CASES)
def test_cpu_configs_learn_above_chance(
    tmp_path: Path, config_name: str, overrides: dict, steps: int, above_chance: float, novel: bool
) -> None:
    L.seed_everything(0)
    module, data = build(config_name, **overrides)
    clock = ClockCallback(eval_steps=[10, steps], num_samples=256)
    trainer = quiet_trainer(tmp_path, steps, [clock])
    trainer.fit(module, datamodule=data)
    curves = read_curves(tmp_path / "curves.csv")
    chance = data.rule.chance_validity
    assert curves["validity"][-1] > above_chance * chance, curves["validity"]
    assert curves["validity"][-1] > 4 * curves["validity"][0]
    if novel:  # valid sequences it never saw: the rule, not only copies
        assert curves["novel_valid"][-1] > min(0.5 * curves["validity"][-1], 0.1), curves["novel_valid"]
