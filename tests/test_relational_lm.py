"""Language-model finetuning on transitive inference with an exception, on a tiny random GPT-2.

No download ever: HF_HUB_OFFLINE=1, the model is built from a config (``model: tiny-random``) or saved to and
loaded from a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import REPO

from lightning_clocks.errors import ConfigError
from lightning_clocks.relational.data import PairDataModule
from lightning_clocks.relational.lm import (
    REAL_TEAM_NAMES,
    TINY_RANDOM,
    LanguageModelPairModule,
    all_prompts,
    demonstration_names,
    entity_names,
    invented_team_names,
    pair_prompt,
)
from lightning_clocks.results import CLOCKS_FILE, CURVES_FILE, HEATMAP_FILE, INITIAL_HEATMAP_FILE, read_curves


@pytest.fixture(autouse=True)
def offline_one_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No hub access; tiny models on one thread."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(**options: object) -> LanguageModelPairModule:
    torch.manual_seed(0)
    return LanguageModelPairModule(**{"num_items": 9, "model": TINY_RANDOM, "lr": 3e-3, **options})


# --------------------------------------------------------------------------------------------- entities, prompts


def test_entity_sets() -> None:
    invented = entity_names("invented", 11, seed=0)
    assert invented == entity_names("invented", 11, seed=0)
    assert invented != entity_names("invented", 11, seed=1)
    assert len(set(invented)) == 11 and all(len(name.split()) == 2 for name in invented)
    assert (
        invented_team_names(3, seed=5, exclude=frozenset(invented_team_names(2, seed=5)))
        == invented_team_names(5, seed=5)[2:]
    )
    real = entity_names("real", 9, seed=0)
    assert len(set(real)) == 9 and set(real) <= set(REAL_TEAM_NAMES)
    assert real != entity_names("real", 9, seed=1)
    demonstrations = demonstration_names(real)
    assert len(demonstrations) == 4 and not set(demonstrations) & set(real)


def test_ordering_file(tmp_path: Path) -> None:
    ordering = tmp_path / "teams.txt"
    ordering.write_text("# strongest first\nRed Lions\n\nBlue Sharks\nGreen Owls\n")
    assert entity_names(str(ordering), 3) == ["Red Lions", "Blue Sharks", "Green Owls"]
    with pytest.raises(ConfigError, match=re.escape("orders 3 entities, but data.num_items=4")):
        entity_names(str(ordering), 4)
    ordering.write_text("Red Lions\nRed Lions\nGreen Owls\n")
    with pytest.raises(ConfigError, match="names an entity twice"):
        entity_names(str(ordering), 3)
    with pytest.raises(ConfigError, match=re.escape("model.entities='nowhere.txt' is neither invented nor real")):
        entity_names("nowhere.txt", 3)
    with pytest.raises(ConfigError, match="30 team names, fewer than num_items=31"):
        entity_names("real", 31)


def test_two_shot_prompt() -> None:
    demonstrations = ["A1 Hawks", "B2 Owls", "C3 Rams", "D4 Stags"]
    assert pair_prompt("Red Lions", "Blue Sharks", demonstrations) == (
        "Q: Will the A1 Hawks win against the B2 Owls? A: Yes.\n"
        "Q: Will the C3 Rams win against the D4 Stags? A: No.\n"
        "Q: Will the Red Lions win against the Blue Sharks? A:"
    )


# --------------------------------------------------------------------------------------------- the module


def test_prompts_are_left_padded_to_one_length_and_scored_independently_of_the_batch() -> None:
    module = tiny(entities="real").eval()
    prompts = all_prompts(module.entity_names, module.demonstrations)
    pairs = torch.tensor([[2, 5], [5, 2], [0, 8]])
    input_ids, mask = module.prompts_of(pairs)
    for row, (i, j) in enumerate(pairs.tolist()):
        real = input_ids[row][mask[row].bool()]
        assert module.tokenizer.decode(real) == module.tokenizer.decode(
            module.tokenizer(prompts[i * 9 + j])["input_ids"]
        )
    lengths = module.prompt_mask.sum(dim=1)
    assert lengths.min() < lengths.max()  # the real names differ in length, so prompts need padding
    assert torch.all(module.prompt_mask[:, -1] == 1)  # left padding: every prompt ends at the last position
    assert torch.all(module.prompt_mask.diff(dim=1) >= 0)  # padding only on the left
    with torch.no_grad():
        together = module.pair_outputs(pairs)
        alone = torch.cat([module.pair_outputs(pairs[row : row + 1]) for row in range(3)])
        log_probs = torch.log_softmax(module.answer_logits(pairs), dim=-1)
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
    p_yes = log_probs[:, module.yes_id].exp() / (log_probs[:, module.yes_id].exp() + log_probs[:, module.no_id].exp())
    torch.testing.assert_close(module.win_probability(together), p_yes)


def test_training_loss_is_the_answer_token_cross_entropy() -> None:
    module = tiny()
    data = PairDataModule()
    rows = data.training_rows[:4]
    logits = module.answer_logits(rows[:, :2])
    targets = torch.where(rows[:, 2] > 0, module.yes_id, module.no_id)
    torch.testing.assert_close(module.training_loss(rows), torch.nn.functional.cross_entropy(logits, targets))


def take_steps(module: LanguageModelPairModule, steps: int) -> list[float]:
    """Plain AdamW steps on the full training batch; the losses."""
    optimizer = module.configure_optimizers()
    rows = PairDataModule().training_rows
    losses = []
    for _ in range(steps):
        loss = module.training_loss(rows)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_probe_trains_the_untied_output_layer_only_with_an_l2_pull() -> None:
    module = tiny(finetuning="probe", anchor=1.0)
    model = module.language_model
    output, embeddings = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    assert output is not embeddings
    assert [parameter is output for parameter in module.trained_parameters()] == [True]
    embeddings_before, output_before = embeddings.detach().clone(), output.detach().clone()
    assert module.anchor_penalty().item() == 0.0
    take_steps(module, 3)
    assert torch.equal(embeddings, embeddings_before)
    moved = (output - output_before).square().sum()
    assert module.anchor_penalty().item() == pytest.approx(0.5 * moved.item(), rel=1e-5)
    free = tiny(finetuning="probe")
    take_steps(free, 3)
    assert free.anchor_penalty().item() == 0.0  # no anchor, no pull


def test_lora_trains_the_adapters_only() -> None:
    module = tiny(finetuning="lora", lora_rank=2)
    names = [name for name, parameter in module.language_model.named_parameters() if parameter.requires_grad]
    assert names and all("lora_" in name for name in names)
    frozen = {name: p.detach().clone() for name, p in module.language_model.named_parameters() if not p.requires_grad}
    losses = take_steps(module, 3)
    assert losses[-1] < losses[0]
    assert all(torch.equal(p, frozen[name]) for name, p in module.language_model.named_parameters() if name in frozen)


def test_a_saved_model_loads_from_its_folder_and_a_missing_one_is_a_clear_error(tmp_path: Path) -> None:
    original = tiny().eval()
    original.language_model.save_pretrained(tmp_path / "model")
    original.tokenizer.save_pretrained(tmp_path / "model")
    loaded = LanguageModelPairModule(num_items=9, model=str(tmp_path / "model")).eval()
    pairs = torch.tensor([[0, 1], [5, 3]])
    with torch.no_grad():
        torch.testing.assert_close(loaded.pair_outputs(pairs), original.pair_outputs(pairs))
    with pytest.raises(ConfigError, match=r"model.model='no-such-org/no-such-model' is neither a model folder"):
        LanguageModelPairModule(model="no-such-org/no-such-model")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"finetuning": "adapters"}, "model.finetuning='adapters'"),
        ({"dtype": "int8"}, "model.dtype='int8'"),
        ({"anchor": -1.0}, "model.anchor=-1.0"),
        ({"finetuning": "lora", "lora_target_modules": ["no_such_layer"]}, "model.lora_target_modules"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tiny(**options)


# --------------------------------------------------------------------------------------------- end to end


def test_ti_fit_finetunes_the_tiny_model_end_to_end(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lightning_clocks.cli",
            "ti-fit",
            "--config",
            str(REPO / "configs" / "ti_lm.yaml"),
            f"--trainer.default_root_dir={run_dir}",
            "--model.model=tiny-random",
            "--model.lr=3e-3",
            "--trainer.accelerator=cpu",
            "--trainer.precision=32-true",
            "--trainer.max_steps=30",
            "--trainer.enable_progress_bar=false",
            "--clocks.num_evaluations=4",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    curves = read_curves(run_dir / CURVES_FILE)
    assert curves["step"] == [1, 3, 10, 30]
    summary = json.loads((run_dir / CLOCKS_FILE).read_text())
    assert curves["train_loss"][-1] < 0.5 * summary["initial_metrics"]["train_loss"]
    assert summary["model"]["family"] == "lm" and summary["model"]["model"] == "tiny-random"
    assert summary["items"] == entity_names("invented", 9, seed=0)
    assert len(summary["initial_pairs"]) == len(summary["final_pairs"]) == 72
    assert all(0.0 < row["p_win"] < 1.0 for row in summary["final_pairs"])
    assert {"accuracy/cycle", "accuracy/within-section", "accuracy/cross-section"} <= set(summary["final_metrics"])
    for name in (HEATMAP_FILE, INITIAL_HEATMAP_FILE, "config.yaml"):
        assert (run_dir / name).exists(), name
