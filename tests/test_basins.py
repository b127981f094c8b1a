"""Basins of attraction: radii, reference denoisers as models, the GPT counterpart, the callback and the command."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from conftest import REPO
from conftest import run_clocks as clocks
from lightning.pytorch.loggers import CSVLogger

from lightning_clocks.basins.callback import BasinCallback
from lightning_clocks.basins.denoisers import EmpiricalDenoiser, ParityDenoiser
from lightning_clocks.basins.figures import plot_basins
from lightning_clocks.basins.probe import (
    BasinProbe,
    basin_radius,
    flip_cells,
    ode_returns,
    resample_cells,
    truncated_karras_sigmas,
)
from lightning_clocks.basins.table import BASIN_COLUMNS, read_basins
from lightning_clocks.data import RuleDataModule
from lightning_clocks.errors import ConfigError
from lightning_clocks.models.encoding import CellEncoding
from lightning_clocks.modules import AutoregressiveModule, DiffusionModule
from lightning_clocks.results import write_curves, write_json
from lightning_clocks.rules import GroupParity

SIGN = CellEncoding("sign", 2)


def parity_data(length: int, group_size: int, n_train: int, seed: int = 0) -> RuleDataModule:
    data = RuleDataModule(GroupParity(length, group_size), n_train=n_train, seed=seed)
    data.setup("fit")
    return data


def test_basin_radius_interpolates_in_log_sigma_after_the_last_level_above_threshold():
    levels = [0.1, 0.2, 0.4, 0.8, 1.6]
    assert basin_radius(levels, [1.0, 1.0, 0.8, 0.2, 0.0]) == pytest.approx((0.4 * 0.8) ** 0.5)
    # the largest level above threshold counts, not the first crossing; the grid order does not matter
    assert basin_radius(levels[::-1], [0.0, 0.6, 0.2, 1.0, 1.0]) == pytest.approx(0.8 * 2 ** (1 / 6))
    assert basin_radius(levels, [0.4, 0.3, 0.2, 0.1, 0.0]) is None
    assert basin_radius(levels, [1.0, 1.0, 1.0, 0.9, 0.7]) == 1.6


def test_truncated_schedule_starts_at_sigma_and_ends_at_zero():
    schedule = truncated_karras_sigmas(0.7, 8, 0.002, 7.0)
    assert schedule[0].item() == pytest.approx(0.7) and schedule[-2].item() == pytest.approx(0.002)
    assert schedule[-1].item() == 0.0 and bool((schedule[1:] < schedule[:-1]).all())
    assert truncated_karras_sigmas(0.001, 8, 0.002, 7.0).tolist() == [0.001, 0.0]


def test_empirical_optimal_denoiser_gives_every_training_sample_a_basin_and_control_samples_none():
    data = parity_data(16, 2, n_train=24)
    denoiser = EmpiricalDenoiser(SIGN.encode(data.train_set))
    noise = torch.randn(24, 16, 1, generator=torch.Generator().manual_seed(0))
    schedule = truncated_karras_sigmas(0.5, 12, 0.002, 7.0)
    assert bool(ode_returns(denoiser, SIGN, data.train_set, noise, schedule).all())
    assert not bool(ode_returns(denoiser, SIGN, data.control_set, noise, schedule).any())
    probe = BasinProbe(
        data.rule, data.train_set, data.control_set, [0.1, 0.3, 0.5, 1.0], [1], {"train": 24, "control": 24}
    )
    rows = probe.measure_diffusion(0, denoiser, SIGN, 12, 0.002, 7.0)
    rates = {(row["target_class"], row["sigma"]): row["return_rate"] for row in rows}
    assert all(rates["train", sigma] == 1.0 for sigma in (0.1, 0.3, 0.5))
    assert all(rates["control", sigma] == 0.0 for sigma in (0.1, 0.3, 0.5, 1.0))
    radius = {row["target_class"]: row["basin_radius"] for row in rows}
    assert radius["train"] >= 0.5 and radius["control"] is None
    # the model is its own reference: zero distance to the empirical optimum everywhere
    assert all(row["distance_empirical"] == 0.0 for row in rows)


def test_exact_population_denoiser_gives_training_and_control_samples_the_same_basins():
    data = parity_data(16, 2, n_train=100)
    sigmas = [0.3, 0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0]
    counts = {"train": 100, "control": 100, "invalid": 50}
    probe = BasinProbe(data.rule, data.train_set, data.control_set, sigmas, [1], counts)
    rows = probe.measure_diffusion(0, ParityDenoiser(data.rule), SIGN, 10, 0.002, 7.0)
    radius = {row["target_class"]: row["basin_radius"] for row in rows}
    assert radius["train"] == pytest.approx(radius["control"], rel=0.1)
    assert 0.5 < radius["train"] < 2.0
    assert radius["invalid"] is None  # the exact rule denoiser never ends on an invalid sequence
    assert all(row["distance_population"] == 0.0 for row in rows)


class MemorizingGPT(torch.nn.Module):
    """A stand-in GPT that is the training set's empirical distribution (with a little uniform mass mixed in).

    ``p(x_t | x_<t)`` is the fraction of training rows with that prefix continuing with x_t; uniform
    where no training row has the prefix.
    """

    def __init__(self, train: torch.Tensor, uniform_mass: float = 1e-4) -> None:
        super().__init__()
        self.train_rows = train
        self.uniform_mass = uniform_mass
        self.config = type("Config", (), {"vocab_size": 2})()

    def with_bos(self, sequences: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.full_like(sequences[:, :1], 2), sequences[:, :-1]], dim=1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        probabilities = torch.full((*inputs.shape, 2), 0.5)
        for position in range(inputs.shape[1]):
            matches = (inputs[:, None, 1 : position + 1] == self.train_rows[None, :, :position]).all(dim=-1).float()
            ones = matches @ self.train_rows[:, position].float()
            total = matches.sum(dim=-1)
            seen = total > 0
            p_one = ones[seen] / total[seen]
            probabilities[seen, position] = torch.stack([1 - p_one, p_one], dim=-1)
        return ((1 - self.uniform_mass) * probabilities + self.uniform_mass / 2).log()

    def sequence_log_likelihood(self, sequences: torch.Tensor) -> torch.Tensor:
        log_probs = torch.log_softmax(self(self.with_bos(sequences)), dim=-1)
        return log_probs.gather(-1, sequences.unsqueeze(-1)).squeeze(-1).sum(dim=-1)


def test_flip_basins_and_log_likelihood_gap_separate_training_from_control_for_a_memorizer():
    data = parity_data(16, 2, n_train=32)
    flipped, mask = flip_cells(data.train_set, 3, 2, torch.Generator().manual_seed(0))
    assert mask.sum(dim=-1).tolist() == [3] * 32 and torch.equal(flipped != data.train_set, mask)
    gpt = MemorizingGPT(data.train_set)
    untouched = resample_cells(gpt, flipped, torch.zeros_like(mask), torch.rand(mask.shape))
    assert torch.equal(untouched, flipped)
    counts = {"train": 32, "control": 32}
    flips = [1, 2, 4, 8]

    exact = BasinProbe(data.rule, data.train_set, data.control_set, [1.0], flips, counts, flip_resampling="exact")
    rows = exact.measure_autoregressive(7, gpt)
    rates = {(row["target_class"], row["flips"]): row["return_rate"] for row in rows}
    # the exact conditional finds the training row (unless another training row differs only in the flipped cells)
    assert rates["train", 1] == rates["train", 2] == 1.0
    assert all(rates["train", k] > rates["control", k] + 0.2 for k in flips) and rates["control", 8] < 0.1
    radius = {row["target_class"]: row["basin_radius"] for row in rows}
    assert radius["train"] == 8 and radius["control"] < 4
    likelihood = {row["target_class"]: row["log_likelihood"] for row in rows}
    assert likelihood["train"] == pytest.approx(-math.log(32), abs=0.01) and likelihood["control"] < -8

    # Resampling given the prefix only: a flip early in the sequence is redrawn before the prefix singles out the
    # training row, so even the memorizer returns less often, though still more often than from control samples.
    prefix = BasinProbe(data.rule, data.train_set, data.control_set, [1.0], flips, counts, flip_resampling="prefix")
    prefix_rates = {
        (row["target_class"], row["flips"]): row["return_rate"] for row in prefix.measure_autoregressive(7, gpt)
    }
    assert all(prefix_rates["train", k] < rates["train", k] for k in flips)
    assert all(prefix_rates["train", k] > prefix_rates["control", k] for k in flips)


def test_probe_refuses_bad_settings():
    data = parity_data(8, 2, n_train=4)
    with pytest.raises(ConfigError, match=r"basins\.sigmas"):
        BasinProbe(data.rule, data.train_set, data.control_set, [0.5, -1.0], [1], {"train": 4})
    with pytest.raises(ConfigError, match=r"basins\.flips"):
        BasinProbe(data.rule, data.train_set, data.control_set, [0.5], [0], {"train": 4})
    with pytest.raises(ConfigError, match="flip_resampling='exact'"):
        long = parity_data(20, 2, n_train=4)
        BasinProbe(long.rule, long.train_set, long.control_set, [0.5], [17], {"train": 4}, flip_resampling="exact")
    with pytest.raises(ConfigError, match="basins target counts"):
        BasinCallback(num_train_targets=0, num_control_targets=0, num_invalid_targets=0)


def fit_with_basins(tmp_path: Path, module: L.LightningModule, callback: BasinCallback) -> L.Trainer:
    data = RuleDataModule(GroupParity(12, 2), n_train=8, batch_size=16, seed=0)
    trainer = L.Trainer(
        max_steps=4,
        default_root_dir=tmp_path,
        logger=CSVLogger(tmp_path, name="csv"),
        callbacks=[callback],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=data)
    return trainer


def test_short_dit_run_writes_basins_csv_logs_and_plots(tmp_path: Path):
    torch.manual_seed(0)
    module = DiffusionModule(12, 2, depth=1, width=32, heads=2, sampler_steps=4, lr=1e-3)
    settings = dict(sigmas=[0.2, 1.0], num_train_targets=4, num_control_targets=4, num_invalid_targets=4)
    callback = BasinCallback(eval_steps=[2, 4], **settings)
    trainer = fit_with_basins(tmp_path, module, callback)
    header = (tmp_path / "basins.csv").read_text().splitlines()[0].split(",")
    assert header == [name for name in BASIN_COLUMNS if name != "flips" and name != "log_likelihood"]
    rows = read_basins(tmp_path / "basins.csv")
    assert [(row["step"], row["target_class"], row["sigma"]) for row in rows[:3]] == [
        (2, "train", 0.2),
        (2, "train", 1.0),
        (2, "control", 0.2),
    ]
    assert len(rows) == 2 * 3 * 2
    assert all(0.0 <= row["return_rate"] <= 1.0 and row["distance_population"] >= 0.0 for row in rows)
    with open(next((tmp_path / "csv").rglob("metrics.csv"))) as stream:
        logged = list(csv.DictReader(stream))
    assert [row["basins/step"] for row in logged if row.get("basins/step")] == ["2", "4"]
    assert "basins/return_rate/control/sigma_0.2" in logged[0]
    # the references do not depend on the weights: the same at both steps, and a resumed run reuses them
    assert len({(row["target_class"], row["floor_radius"], row["memorizer_radius"]) for row in rows}) == 3
    resumed = BasinCallback(**settings)
    resumed.load_state_dict(callback.state_dict())
    assert resumed.rows == callback.rows
    resumed.measure(module, trainer.datamodule, 5)
    assert resumed.probe.reference_returns is callback.state_dict()["reference_returns"]
    # references of another grid are not taken: they are measured again
    regridded = BasinCallback(**{**settings, "sigmas": [0.5, 1.0, 2.0]})
    regridded.load_state_dict(callback.state_dict())
    regridded.measure(module, trainer.datamodule, 5)
    assert regridded.probe.reference_returns["floor"]["train"].shape == (3, 4)
    figures = plot_basins(tmp_path, tmp_path / "figures")
    assert [path.name for path in figures] == ["basin_radius.png", "basin_return_rates.png", "denoiser_distances.png"]
    assert all(path.stat().st_size > 10_000 for path in figures)
    assert plot_basins(tmp_path / "csv", tmp_path / "none") == []


def test_basin_figures_mark_both_clocks_of_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        {
            "step": step,
            "target_class": name,
            "sigma": sigma,
            "return_rate": 0.5,
            "basin_radius": 0.6,
            "floor_radius": 0.5,
            "population_radius": 0.9 if name != "invalid" else None,
            "memorizer_radius": 1.8 if name == "train" else None,
            **({"dominance": -0.3, "dominance_low": -0.4, "dominance_high": -0.2} if name == "train" else {}),
            "distance_empirical": 0.1,
            "distance_population": 0.2,
        }
        for step in (10, 100, 1000)
        for name in ("train", "control", "invalid")
        for sigma in (0.3, 1.0)
    ]
    write_curves(tmp_path / "basins.csv", rows)
    write_json(tmp_path / "clocks.json", {"tau_rule": 120.0, "tau_mem": 700.0})
    drawn: dict[str, list[str]] = {}
    import lightning_clocks.report.figures as report_figures

    original_save = report_figures.save

    def recording_save(figure, path: Path) -> Path:
        drawn[path.name] = [line.get_label() for axes in figure.axes for line in axes.get_lines()]
        return original_save(figure, path)

    monkeypatch.setattr(report_figures, "save", recording_save)
    plot_basins(tmp_path, tmp_path / "figures")
    for name in ("basin_radius.png", "denoiser_distances.png"):
        assert "tau_rule = 120" in drawn[name] and "tau_mem = 700" in drawn[name], drawn[name]
    # each class's references as horizontal lines (none where undefined), and the dominance panel
    references = [label for label in drawn["basin_radius.png"] if ": " in label]
    expected = {
        "train": ["floor = 0.50", "population = 0.90", "memorizer = 1.80"],
        "control": ["floor = 0.50", "population = 0.90"],
        "invalid": ["floor = 0.50"],
    }
    assert sorted(references) == sorted(f"{name}: {line}" for name, lines in expected.items() for line in lines)
    assert "dominance" in drawn["basin_radius.png"]


def test_short_gpt_run_writes_flip_basins_and_log_likelihood_plot(tmp_path: Path):
    torch.manual_seed(0)
    module = AutoregressiveModule(12, 2, n_layer=1, n_head=2, n_embd=16, lr=1e-3)
    callback = BasinCallback(
        eval_steps=[4], flips=[1, 3, 20], num_train_targets=4, num_control_targets=4, num_invalid_targets=0
    )
    fit_with_basins(tmp_path, module, callback)
    rows = read_basins(tmp_path / "basins.csv")
    assert [(row["target_class"], row["flips"]) for row in rows] == [
        (name, k) for name in ("train", "control") for k in (1, 3)
    ]
    assert all(row["log_likelihood"] < 0 and row.get("sigma") is None for row in rows)
    figures = plot_basins(tmp_path, tmp_path / "figures")
    assert [path.name for path in figures] == ["basin_radius.png", "basin_return_rates.png", "log_likelihood.png"]


def test_basins_config_fits_and_the_basins_command_reads_its_checkpoints(tmp_path: Path):
    config = yaml.safe_load((REPO / "configs" / "basins_dit_cpu.yaml").read_text())
    basin_args = config["trainer"]["callbacks"][0]["init_args"]
    basin_args.update(first_step=10, num_evaluations=2, sigmas=[0.3, 1.0], sampler_steps=3)
    basin_args.update(num_train_targets=8, num_control_targets=8, num_invalid_targets=4)
    config["trainer"].update(max_steps=20, logger=False)
    config["model"]["init_args"].update(sampler_steps=3)
    config["clocks"].update(num_samples=16, num_evaluations=2, first_step=10)
    config["checkpoint"]["every_n_train_steps"] = 10
    config_path = tmp_path / "basins.yaml"
    config_path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    fit = clocks("fit", "--config", str(config_path), f"--trainer.default_root_dir={run_dir}")
    assert fit.returncode == 0, fit.stderr[-3000:]
    during_training = read_basins(run_dir / "basins.csv")
    assert sorted({row["step"] for row in during_training}) == [10, 20]
    assert (run_dir / "checkpoints" / "last.ckpt").exists()

    refused = clocks("basins", "--run", str(run_dir))
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    output = tmp_path / "from_checkpoints.csv"
    measured = clocks("basins", "--run", str(run_dir), "--output", str(output))
    assert measured.returncode == 0, measured.stderr[-3000:]
    assert "step 20: basin radius" in measured.stdout
    from_checkpoints = read_basins(output)
    # the command takes the run's callback settings and the same seeded targets and noise: identical rows at step 20
    assert [row for row in from_checkpoints if row["step"] == 20] == [
        row for row in during_training if row["step"] == 20
    ]
    assert sorted({row["step"] for row in from_checkpoints}) == [10, 20]
    # --basins.* options override the run's own settings.
    override = tmp_path / "one_sigma.csv"
    one_sigma = clocks("basins", f"--run={run_dir}", f"--output={override}", "--basins.sigmas=[0.3]")
    assert one_sigma.returncode == 0, one_sigma.stderr[-3000:]
    assert {row["sigma"] for row in read_basins(override)} == {0.3}
    report = clocks("report", str(run_dir))
    assert report.returncode == 0, report.stderr[-3000:]
    page = (run_dir / "report" / "report.html").read_text()
    assert "basin_radius.png" in page and "denoiser_distances.png" in page
