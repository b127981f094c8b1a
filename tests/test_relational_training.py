"""Gradient-trained pair models on transitive inference with an exception: data, models, clocks, CLI.

Real training on the CPU with fixed seeds, full batch, a few hundred steps each. The facts checked: the
linear readout of the additive code never fits the exception (its outputs are sums of item scores, so the
cycle cannot be all right) while it transfers the order; the readout of the conjunctive code memorizes the
exception at once and never transfers; a ReLU hidden layer makes additive features memorize as well; SGD on
the linear readout follows the exact gradient flow of the kernel theory.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from conftest import REPO
from conftest import run_clocks as clocks

from lightning_clocks.cli import main
from lightning_clocks.errors import ConfigError
from lightning_clocks.relational.callback import PairClockCallback, pair_column
from lightning_clocks.relational.data import PairDataModule, split_batch
from lightning_clocks.relational.kernels import additive_features, conjunctive_features, mixed_features
from lightning_clocks.relational.models import PairMLP, PairTransformer
from lightning_clocks.relational.module import PairMLPModule, PairModule, PairTransformerModule, win_probability
from lightning_clocks.relational.task import CATEGORIES, CYCLE, NO_GROUND_TRUTH, TransitiveTask
from lightning_clocks.relational.theory import pair_trajectory
from lightning_clocks.report.cli import main as report_main
from lightning_clocks.results import CLOCKS_FILE, CURVES_FILE, HEATMAP_FILE, INITIAL_HEATMAP_FILE, read_curves


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread (and do not fight other processes for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fit(
    module: PairModule,
    run_dir: Path,
    max_steps: int,
    ckpt_path: str | None = None,
    task: tuple[int, tuple[int, int] | None] = (9, (5, 3)),
    **clock_options: object,
) -> PairClockCallback:
    """Train ``module`` on ``task`` (default: the mid variant; full batch) with the pair clock callback."""
    clock = PairClockCallback(**{"num_evaluations": 12, **clock_options})
    callbacks: list[L.Callback] = [clock]
    if ckpt_path is not None or clock_options.get("eval_steps"):
        callbacks.append(L.pytorch.callbacks.ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True))
    trainer = L.Trainer(
        max_steps=max_steps,
        max_epochs=-1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=len(callbacks) > 1,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        default_root_dir=run_dir,
    )
    data = PairDataModule(num_items=task[0], exception=task[1])
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    return clock


def mlp(representation: str, **options: object) -> PairMLPModule:
    L.seed_everything(0)
    return PairMLPModule(**{"num_items": 9, "representation": representation, "hidden": [], "lr": 1e-2, **options})


# --------------------------------------------------------------------------------------------- data and models


def test_data_module_holds_the_training_pairs_and_every_ordered_pair() -> None:
    data = PairDataModule(num_items=9, exception=[5, 3])
    task = TransitiveTask(9, (5, 3))
    pairs, labels = split_batch(data.training_rows)
    assert [tuple(pair) for pair in pairs.tolist()] == task.training_pairs()
    assert labels.tolist() == task.training_labels().tolist()
    assert labels.dtype == torch.float32
    assert [tuple(pair) for pair in data.evaluation_pairs.tolist()] == task.all_pairs()
    assert data.num_items == 9
    full = list(islice(iter(data.train_dataloader()), 3))
    assert all(torch.equal(batch, data.training_rows) for batch in full)


def test_batches_with_replacement_depend_only_on_seed_and_step() -> None:
    data = PairDataModule(num_items=9, exception=None, batch_size=5, seed=3)
    first, second = islice(iter(data.train_dataloader()), 2)
    again = next(iter(PairDataModule(num_items=9, exception=None, batch_size=5, seed=3).train_dataloader()))
    other_seed = next(iter(PairDataModule(num_items=9, exception=None, batch_size=5, seed=4).train_dataloader()))
    assert first.shape == (5, 3)
    assert torch.equal(first, again)
    assert not torch.equal(first, second)
    assert not torch.equal(first, other_seed)
    rows = {tuple(row) for row in data.training_rows.tolist()}
    assert all(tuple(row) in rows for row in first.tolist())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"exception": (3, 5)}, "data.exception=(3, 5): W must be ranked below L"),
        ({"exception": (5, 4)}, "must not be adjacent"),
        ({"num_items": 2}, "data.num_items=2"),
        ({"batch_size": 0}, "data.batch_size=0"),
    ],
)
def test_bad_data_options_name_the_option(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        PairDataModule(**options)


@pytest.mark.parametrize(
    ("representation", "features"),
    [
        ("additive", lambda pairs: additive_features(pairs, 9)),
        ("conjunctive", lambda pairs: conjunctive_features(pairs, 9)),
        ("mixed", lambda pairs: mixed_features(pairs, 9, 0.3, 0.1)),
    ],
)
def test_mlp_inputs_are_the_kernel_feature_maps(representation: str, features: object) -> None:
    network = PairMLP(9, representation, alpha=0.3, kappa_d=0.1, hidden=[])
    pairs = [(0, 1), (5, 3), (8, 2)]
    looked_up = network.features[torch.tensor([i * 9 + j for i, j in pairs])]
    np.testing.assert_allclose(looked_up.numpy(), features(pairs), rtol=1e-6)
    assert torch.equal(network(torch.tensor(pairs)), torch.zeros(3))  # zero readout: f = 0 at the start


def test_transformer_scores_pairs_and_depends_on_the_order() -> None:
    torch.manual_seed(0)
    network = PairTransformer(9, n_layer=1, n_head=2, n_embd=16, zero_readout=False)
    outputs = network(torch.tensor([[0, 1], [1, 0], [2, 7]]))
    assert outputs.shape == (3,)
    assert outputs[0] != outputs[1]


def test_win_probability_of_each_loss() -> None:
    outputs = torch.tensor([-3.0, 0.0, 0.5, 2.0])
    torch.testing.assert_close(win_probability(outputs, "logistic"), torch.sigmoid(outputs))
    torch.testing.assert_close(win_probability(outputs, "squared"), torch.tensor([0.0, 0.5, 0.75, 1.0]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"representation": "bilinear"}, "model.representation='bilinear'"),
        ({"activation": "swish"}, "model.activation='swish'"),
        ({"hidden": [8, 0]}, r"model.hidden=\[8, 0\]"),
        ({"loss": "hinge"}, "model.loss='hinge'"),
        ({"optimizer": "adam"}, "model.optimizer='adam'"),
        ({"lr": 0.0}, "model.lr=0.0"),
        ({"weight_decay": -1.0}, "model.weight_decay=-1.0"),
        ({"representation": "mixed", "alpha": 1.5}, "model.alpha=1.5"),
        ({"representation": "mixed", "kappa_d": 1.0}, "model.kappa_d=1.0"),
    ],
)
def test_bad_model_options_name_the_option(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PairMLPModule(**options)


def test_bad_transformer_shape_names_the_options() -> None:
    with pytest.raises(ConfigError, match=re.escape("model.n_embd=10 must be divisible by model.n_head=4")):
        PairTransformerModule(n_embd=10, n_head=4)
    with pytest.raises(ConfigError, match=re.escape("model.n_layer=0")):
        PairTransformerModule(n_layer=0)


# --------------------------------------------------------------------------------------------- training facts


def test_additive_readout_transfers_the_order_but_never_fits_the_exception(tmp_path: Path) -> None:
    clock = fit(mlp("additive"), tmp_path, max_steps=300)
    assert all(row[f"accuracy/{CYCLE}"] < 1.0 for row in clock.rows)
    assert clock.clocks().tau_mem is None
    assert clock.clocks().tau_rule is not None and clock.clocks().window_open
    final = clock.rows[-1]
    assert final["accuracy/train-regular"] == 1.0
    assert final["rule_accuracy"] == 1.0
    assert final["train_loss"] < clock.initial_row["train_loss"]


def test_conjunctive_readout_memorizes_the_exception_and_never_transfers(tmp_path: Path) -> None:
    clock = fit(mlp("conjunctive"), tmp_path, max_steps=300)
    clocks = clock.clocks()
    assert clocks.tau_mem is not None and clocks.tau_mem <= 10
    assert clocks.tau_rule is None and not clocks.window_open
    final = clock.rows[-1]
    assert final[f"accuracy/{CYCLE}"] == 1.0
    assert final["accuracy/train-regular"] == 1.0
    assert final["accuracy/within-section"] == 0.0  # unseen pairs keep f = 0: a tie, never right
    assert final[pair_column((5, 3))] > 0.8  # the exception: I6 beats I4


@pytest.mark.parametrize(("hidden", "activation", "memorizes"), [([32], "identity", False), ([64], "relu", True)])
def test_hidden_layers_memorize_the_exception_only_when_nonlinear(
    tmp_path: Path, hidden: list[int], activation: str, memorizes: bool
) -> None:
    clock = fit(mlp("additive", hidden=hidden, activation=activation), tmp_path, max_steps=300)
    assert (clock.clocks().tau_mem is not None) == memorizes
    assert clock.rows[-1]["accuracy/train-regular"] == 1.0


def test_sgd_on_the_linear_readout_follows_the_exact_gradient_flow(tmp_path: Path) -> None:
    """Full-batch SGD on the mean squared loss is the flow of the summed loss at time lr * steps / m."""
    alpha, lr, steps = 0.3, 0.1, 300
    module = mlp("mixed", alpha=alpha, loss="squared", optimizer="sgd", lr=lr)
    clock = fit(module, tmp_path, max_steps=steps, eval_steps=[steps])
    task = TransitiveTask(9, (5, 3))
    time = lr * steps / len(task.training_pairs())
    exact = pair_trajectory(task, alpha, 0.0, [time])[0]
    with torch.no_grad():
        trained = module.pair_outputs(torch.tensor(task.all_pairs())).numpy()
    np.testing.assert_allclose(trained, exact, atol=0.01)
    assert np.abs(exact).max() > 0.5
    assert clock.rows[-1]["accuracy/cycle"] == 1.0


def test_transformer_fits_the_training_pairs(tmp_path: Path) -> None:
    L.seed_everything(0)
    module = PairTransformerModule(num_items=9, n_layer=1, n_head=2, n_embd=32, lr=3e-3)
    clock = fit(module, tmp_path, max_steps=150, num_evaluations=5)
    final = clock.rows[-1]
    assert final["accuracy/train-regular"] == 1.0
    assert final[f"accuracy/{CYCLE}"] == 1.0
    assert final["train_loss"] < 0.1 * clock.initial_row["train_loss"]


# --------------------------------------------------------------------------------------------- clocks and files


def pair_clocks(rows: list[dict[str, float]], rule_threshold: float, mem_threshold: float) -> object:
    """The clocks a PairClockCallback with these thresholds measures from ``rows``."""
    callback = PairClockCallback(rule_threshold=rule_threshold, mem_threshold=mem_threshold)
    callback.rows = rows
    return callback.clocks()


def test_clocks_cross_at_the_first_evaluation_that_satisfies_them() -> None:
    rows = [
        {"step": 10, "rule_accuracy": 0.5, f"accuracy/{CYCLE}": 0.0},
        {"step": 100, "rule_accuracy": 1.0, f"accuracy/{CYCLE}": 5 / 6},
        {"step": 1000, "rule_accuracy": 1.0, f"accuracy/{CYCLE}": 1.0},
    ]
    clocks = pair_clocks(rows, rule_threshold=1.0, mem_threshold=1.0)
    assert clocks.tau_rule == pytest.approx(100)
    assert clocks.tau_mem == pytest.approx(1000)
    assert (clocks.rule_series, clocks.mem_series) == ("rule_accuracy", f"accuracy/{CYCLE}")
    assert pair_clocks(rows, 0.75, 1.0).tau_rule == pytest.approx(10**1.5)  # interpolated in log step
    no_cycle = [{"step": 10, "rule_accuracy": 1.0}]
    assert pair_clocks(no_cycle, 1.0, 1.0).tau_mem is None


def test_run_folder_files_and_resume_equal_an_uninterrupted_run(tmp_path: Path) -> None:
    schedule = [1, 5, 10, 20, 30, 40]
    whole = fit(mlp("mixed", alpha=0.2), tmp_path / "whole", 40, eval_steps=schedule, heatmap=True)
    fit(mlp("mixed", alpha=0.2), tmp_path / "parts", 20, eval_steps=schedule[:4])
    resumed = fit(
        mlp("mixed", alpha=0.2),
        tmp_path / "parts",
        40,
        ckpt_path=str(tmp_path / "parts" / "checkpoints" / "last.ckpt"),
        eval_steps=schedule,
    )
    assert [row["step"] for row in resumed.rows] == schedule
    assert read_curves(tmp_path / "parts" / CURVES_FILE) == read_curves(tmp_path / "whole" / CURVES_FILE)
    assert resumed.initial_row == whole.initial_row
    curves = read_curves(tmp_path / "whole" / CURVES_FILE)
    task = TransitiveTask(9, (5, 3))
    per_pair = [pair_column(pair) for pair in task.all_pairs() if task.label(pair) is not None]
    assert set(per_pair) | {"step", "train_loss", "rule_accuracy"} <= set(curves)
    summary = json.loads((tmp_path / "whole" / CLOCKS_FILE).read_text())
    assert summary["task"] == {"num_items": 9, "exception": [5, 3], "description": "9 items, exception I6 beats I4"}
    assert summary["model"]["representation"] == "mixed" and summary["steps_trained"] == 40
    assert {"tau_rule", "tau_mem", "window_open", "rule_threshold", "mem_threshold"} <= set(summary)
    assert len(summary["final_pairs"]) == len(summary["initial_pairs"]) == 72
    assert {row["category"] for row in summary["final_pairs"]} == set(CATEGORIES) - {NO_GROUND_TRUTH}
    assert all(row["p_win"] == 0.5 for row in summary["initial_pairs"])  # zero readout: f = 0
    for name in (HEATMAP_FILE, INITIAL_HEATMAP_FILE):
        assert (tmp_path / "whole" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resuming_on_another_task_is_refused(tmp_path: Path) -> None:
    fit(mlp("mixed", alpha=0.2), tmp_path, 5, eval_steps=[5])
    last = str(tmp_path / "checkpoints" / "last.ckpt")
    with pytest.raises(ConfigError, match=re.escape("data.num_items=9, data.exception=None")):
        fit(mlp("mixed", alpha=0.2), tmp_path, 10, ckpt_path=last, eval_steps=[5, 10], task=(9, None))
    with pytest.raises(ConfigError, match=re.escape("trained with num_items=9, but this config has data.num_items=7")):
        fit(mlp("mixed", alpha=0.2, num_items=7), tmp_path, 10, ckpt_path=last, eval_steps=[5, 10], task=(7, (4, 2)))


# --------------------------------------------------------------------------------------------- command line


def test_ti_fit_writes_the_run_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = clocks(
        "ti-fit",
        "--config",
        str(REPO / "configs" / "ti_mlp.yaml"),
        f"--trainer.default_root_dir={run_dir}",
        "--trainer.max_steps=60",
        "--clocks.num_evaluations=6",
        "--model.representation=conjunctive",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / CLOCKS_FILE).read_text())
    assert summary["model"]["representation"] == "conjunctive" and summary["model"]["num_items"] == 9
    assert summary["tau_mem"] is not None and summary["tau_rule"] is None
    assert [int(step) for step in read_curves(run_dir / CURVES_FILE)["step"]] == [1, 2, 5, 12, 26, 60]
    for name in ("config.yaml", HEATMAP_FILE, INITIAL_HEATMAP_FILE, "checkpoints/last.ckpt"):
        assert (run_dir / name).exists(), name
    assert (summary["rule_series"], summary["mem_series"]) == ("rule_accuracy", f"accuracy/{CYCLE}")
    # clocks report reads a ti-fit folder as it reads a fit folder: its clocks cross the pair task's own columns.
    assert report_main([str(run_dir)]) == 0
    (row,) = list(csv.DictReader((run_dir / "report" / "runs.csv").open()))
    assert row["tau_rule"] == "" and float(row["tau_mem"]) == pytest.approx(summary["tau_mem"], abs=0.5)
    assert (run_dir / "report" / "figures" / "run_run.png").exists()


def test_ti_fit_refuses_a_bad_exception_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["clocks"])
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "ti-fit",
                "--config",
                str(REPO / "configs" / "ti_mlp.yaml"),
                f"--trainer.default_root_dir={tmp_path / 'run'}",
                "--data.exception=[3, 5]",
            ]
        )
    assert exit_info.value.code == 2
    assert "data.exception=(3, 5): W must be ranked below L" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
