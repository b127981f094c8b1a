"""EMA weights (``--ema.decay``): the average is the hand-computed EMA of the live weights, the clocks measure it,
checkpoints keep both, a resumed run continues exactly, and a resume with other EMA settings is refused."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import REPO, quiet_trainer

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.callbacks.ema import EMAWeights
from lightning_clocks.checkpoints import load_checkpoint
from lightning_clocks.cli import main
from lightning_clocks.data import RuleDataModule
from lightning_clocks.modules import AutoregressiveModule
from lightning_clocks.results import read_curves, read_json
from lightning_clocks.rules import GroupParity

DECAY = 0.8


class LiveWeights(L.Callback):
    """Records the live weights after every optimizer step."""

    def __init__(self) -> None:
        self.history: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        self.history.append({name: value.detach().clone() for name, value in pl_module.state_dict().items()})


def small_run() -> tuple[AutoregressiveModule, RuleDataModule]:
    L.seed_everything(0)
    module = AutoregressiveModule(sequence_length=12, vocab_size=2, n_layer=1, n_head=2, n_embd=16, lr=1e-2)
    data = RuleDataModule(GroupParity(12, 3), n_train=32, batch_size=16, seed=0)
    return module, data


def test_the_clocks_measure_the_hand_computed_average_of_the_weights(tmp_path: Path) -> None:
    module, data = small_run()
    start_step, steps = 3, 12
    ema, live = EMAWeights(DECAY, start_step), LiveWeights()
    clock = ClockCallback(eval_steps=[steps], num_samples=128)
    quiet_trainer(tmp_path, steps, [ema, clock, live]).fit(module, datamodule=data)

    # torch's AveragedModel copies the weights at its first update (step index start_step), then decays.
    expected = dict(live.history[start_step])
    for weights in live.history[start_step + 1 :]:
        expected = {name: DECAY * expected[name] + (1 - DECAY) * weights[name] for name in expected}
    averaged = ema.averaged_module.state_dict()
    for name, value in expected.items():
        torch.testing.assert_close(averaged[name], value, rtol=1e-5, atol=1e-6)

    by_hand, _ = small_run()
    by_hand.load_state_dict(expected)
    measured_on_average = {key: value for key, value in clock.rows[-1].items() if key != "step"}
    assert clock.evaluate(by_hand, data) == pytest.approx(measured_on_average)
    live_row = clock.evaluate(module, data)  # the live weights give other samples: the row above is the average's
    assert live_row["nn_distance"] != pytest.approx(measured_on_average["nn_distance"])


def clocks(*argv: str) -> tuple[int, str]:
    """``clocks ARGV`` in this process; the exit status and stderr."""
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        try:
            main(list(argv))
        except SystemExit as stop:
            return int(stop.code or 0), err.getvalue()
    return 0, err.getvalue()


def fit_cli(run_dir: Path, *options: str) -> tuple[int, str]:
    """``clocks fit`` of the GPT quickstart in this process; the exit status and stderr."""
    return clocks(
        "fit",
        "--config",
        str(REPO / "configs" / "quickstart.yaml"),
        f"--trainer.default_root_dir={run_dir}",
        "--trainer.enable_progress_bar=false",
        "--trainer.logger=false",
        "--clocks.num_samples=64",
        "--checkpoint.every_n_train_steps=20",
        *options,
    )


def test_a_resumed_ema_run_continues_exactly_and_validate_measures_the_average(tmp_path: Path) -> None:
    ema = [f"--ema.decay={DECAY}", "--ema.start_step=5"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert fit_cli(whole, "--trainer.max_steps=40", "--clocks.eval_steps=[10,20,30,40]", *ema)[0] == 0
    assert fit_cli(parts, "--trainer.max_steps=20", "--clocks.eval_steps=[10,20]", *ema)[0] == 0

    code, err = fit_cli(parts, "--trainer.max_steps=40", "--clocks.eval_steps=[10,20,30,40]", "--ckpt_path=last")
    assert code == 2
    assert "was trained with ema.decay=0.8, but this config has ema.decay=null" in err, err[-2000:]
    code, err = fit_cli(parts, "--trainer.max_steps=40", "--clocks.eval_steps=[10,20,30,40]", "--ckpt_path=last", *ema)
    assert code == 0, err[-3000:]

    assert read_curves(parts / "curves.csv") == read_curves(whole / "curves.csv")
    assert read_json(whole / "clocks.json")["ema_decay"] == DECAY
    final = {run.name: load_checkpoint(run / "checkpoints" / "last.ckpt") for run in (whole, parts)}
    for key in ("state_dict", "current_model_state"):
        for name, value in final["whole"][key].items():
            assert torch.equal(value, final["parts"][key][name]), (key, name)
    averaged, current = final["whole"]["state_dict"], final["whole"]["current_model_state"]
    assert any(not torch.equal(averaged[name], current[name]) for name in averaged)

    # validate loads the checkpoint's state_dict, the average: it reproduces the last curve row.
    code, err = clocks(
        "validate", "--config", str(whole / "config.yaml"), f"--trainer.default_root_dir={whole}", "--ckpt_path=last"
    )
    assert code == 0, err[-3000:]
    validated = read_json(whole / "validate.json")["metrics"]
    curves = read_curves(whole / "curves.csv")
    assert validated["validity"] == pytest.approx(curves["validity"][-1])
    assert validated["nn_distance"] == pytest.approx(curves["nn_distance"][-1])


def test_ema_is_off_by_default(tmp_path: Path) -> None:
    code, err = fit_cli(tmp_path / "run", "--trainer.max_steps=10", "--clocks.eval_steps=[10]")
    assert code == 0, err[-3000:]
    assert read_json(tmp_path / "run" / "clocks.json")["ema_decay"] is None
    assert "current_model_state" not in load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    code, err = fit_cli(
        tmp_path / "run", "--trainer.max_steps=20", "--clocks.eval_steps=[10,20]", "--ckpt_path=last", "--ema.decay=0.9"
    )
    assert code == 2 and "was trained with ema.decay=null, but this config has ema.decay=0.9" in err, err[-2000:]
