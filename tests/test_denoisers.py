"""Reference denoisers: the closed-form parity denoiser and the empirical optimum against direct posterior means."""

from __future__ import annotations

import itertools

import pytest
import torch

from lightning_clocks.basins.denoisers import (
    EmpiricalDenoiser,
    FloorDenoiser,
    ParityDenoiser,
    enumerate_valid,
    population_denoiser,
)
from lightning_clocks.models.encoding import CellEncoding
from lightning_clocks.modules import DiffusionModule
from lightning_clocks.rules import GroupParity, GroupSumMod, Sudoku

SIGN = CellEncoding("sign", 2)


def direct_posterior_mean(points: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """E[c | x] under a uniform prior on ``points [M, L, C]``, with the full M x B distance matrix."""
    squared = ((x.unsqueeze(1) - points.unsqueeze(0)) ** 2).flatten(2).sum(dim=-1)
    weights = torch.softmax(-squared / (2 * sigma**2), dim=-1)
    return torch.einsum("bm,mlc->blc", weights, points)


def brute_force_parity_set(length: int, group_size: int) -> torch.Tensor:
    """Every even-parity-per-group bit string, by brute force over all 2^L strings, as +-1 cells."""
    bits = torch.tensor(list(itertools.product((0, 1), repeat=length)))
    even = (bits.view(len(bits), -1, group_size).sum(dim=-1) % 2 == 0).all(dim=-1)
    return SIGN.encode(bits[even]).double()


@pytest.mark.parametrize(("length", "group_size"), [(4, 2), (6, 3), (8, 4), (6, 6), (9, 3), (5, 1)])
@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.0, 4.0])
def test_closed_form_parity_denoiser_is_the_brute_force_posterior_mean(length: int, group_size: int, sigma: float):
    generator = torch.Generator().manual_seed(length * 100 + group_size)
    valid = brute_force_parity_set(length, group_size)
    near_valid = valid[torch.randint(len(valid), (32,), generator=generator)]
    x = torch.cat(
        [
            near_valid + sigma * torch.randn(near_valid.shape, generator=generator, dtype=torch.float64),
            3 * torch.randn(32, length, 1, generator=generator, dtype=torch.float64),
            torch.zeros(1, length, 1, dtype=torch.float64),  # every tanh term is 0
        ]
    )
    sigmas = torch.full((len(x),), sigma, dtype=torch.float64)
    closed_form = ParityDenoiser(GroupParity(length, group_size))(x, sigmas)
    torch.testing.assert_close(closed_form, direct_posterior_mean(valid, x, sigma), rtol=0, atol=1e-10)


def test_parity_denoiser_flips_the_least_confident_cell_when_every_tanh_saturates():
    # One group of 2 with odd parity at sigma = 0.002 (|a| ~ 1e5, tanh rounds to +-1 in float32 and float64):
    # the posterior puts all mass on flipping the cell nearer 0.
    rule = GroupParity(4, 2)
    x = torch.tensor([[[1.0], [-0.96], [1.0], [1.0]]])
    for dtype in (torch.float32, torch.float64):
        denoised = ParityDenoiser(rule)(x.to(dtype), torch.tensor([0.002], dtype=dtype))
        assert denoised.flatten().tolist() == [1.0, 1.0, 1.0, 1.0]


def test_parity_denoiser_follows_the_group_layout():
    rule = GroupParity(16, 4, layout="blocks")
    valid = SIGN.encode(enumerate_valid(rule)).double()
    x = torch.randn(16, 16, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigmas = torch.full((16,), 0.7, dtype=torch.float64)
    torch.testing.assert_close(
        ParityDenoiser(rule)(x, sigmas), direct_posterior_mean(valid, x, 0.7), rtol=0, atol=1e-10
    )


def test_empirical_denoiser_equals_the_direct_posterior_mean_chunked_or_not():
    generator = torch.Generator().manual_seed(1)
    points = SIGN.encode(torch.randint(0, 2, (50, 10), generator=generator)).double()
    x = points[:20] + 0.8 * torch.randn(20, 10, 1, generator=generator, dtype=torch.float64)
    sigmas = torch.full((20,), 0.8, dtype=torch.float64)
    whole = EmpiricalDenoiser(points, chunk_size=1000)(x, sigmas)
    chunked = EmpiricalDenoiser(points, chunk_size=7)(x, sigmas)
    torch.testing.assert_close(whole, direct_posterior_mean(points, x, 0.8), rtol=0, atol=1e-12)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-12)


def test_empirical_denoiser_handles_one_hot_cells_and_per_row_sigmas():
    encoding = CellEncoding("one_hot", 3)
    generator = torch.Generator().manual_seed(2)
    points = encoding.encode(torch.randint(0, 3, (30, 6), generator=generator)).double()
    x = torch.randn(4, 6, 3, generator=generator, dtype=torch.float64)
    sigmas = torch.tensor([0.2, 0.5, 1.0, 3.0], dtype=torch.float64)
    denoised = EmpiricalDenoiser(points, chunk_size=4)(x, sigmas)
    for row, sigma in enumerate(sigmas.tolist()):
        torch.testing.assert_close(denoised[row], direct_posterior_mean(points, x[row : row + 1], sigma)[0])


def test_empirical_denoiser_at_tiny_noise_returns_the_nearest_training_point():
    generator = torch.Generator().manual_seed(3)
    points = SIGN.encode(torch.randint(0, 2, (200, 12), generator=generator))
    x = 1.5 * torch.randn(64, 12, 1, generator=generator)
    denoised = EmpiricalDenoiser(points, chunk_size=64)(x, torch.full((64,), 1e-3))
    nearest = points[torch.cdist(x.flatten(1), points.flatten(1).float()).argmin(dim=-1)]
    assert torch.equal(denoised, nearest.float())


def test_enumerated_valid_sets_are_complete():
    parity = enumerate_valid(GroupParity(10, 2))
    assert parity.shape == (32, 10) and bool(GroupParity(10, 2).is_valid(parity).all())
    assert len(torch.unique(parity, dim=0)) == 32
    sudoku = enumerate_valid(Sudoku(4))  # 4^16 sequences: collected by sampling until all 288 are found
    assert sudoku.shape == (288, 16) and len(torch.unique(sudoku, dim=0)) == 288
    assert bool(Sudoku(4).is_valid(sudoku).all())


def test_population_denoiser_picks_closed_form_enumeration_or_none():
    assert isinstance(population_denoiser(GroupParity(36, 2), SIGN), ParityDenoiser)
    small = GroupSumMod(length=8, group_size=4, modulus=3, vocab_size=3)
    encoding = CellEncoding("one_hot", 3)
    enumerated = population_denoiser(small, encoding)
    assert isinstance(enumerated, EmpiricalDenoiser) and len(enumerated.points) == small.valid_count
    assert population_denoiser(GroupParity(36, 2), CellEncoding("one_hot", 2), max_count=1000) is None


@pytest.mark.parametrize("encoding", ["sign", "one_hot"])
def test_floor_denoiser_is_the_untrained_adaln_zero_dit(encoding: str):
    torch.manual_seed(0)
    module = DiffusionModule(8, 3 if encoding == "one_hot" else 2, depth=1, width=16, heads=2, encoding=encoding)
    channels = module.encoding.channels
    x = 2.0 * torch.randn(6, 8, channels)
    sigma = torch.tensor([0.01, 0.1, 0.5, 1.0, 3.0, 80.0])
    expected = (0.5**2 / (sigma**2 + 0.5**2)).view(-1, 1, 1) * x  # c_skip x, written out
    torch.testing.assert_close(FloorDenoiser(module.sigma_data)(x, sigma), expected)
    torch.testing.assert_close(module.denoise(x, sigma), expected)
