"""Model pieces checked against definitions: KV cache, sampling noise, EDM math, adaLN-Zero, encodings."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from lightning_clocks.models.edm import edm_preconditioning, heun_sample, karras_sigmas
from lightning_clocks.models.encoding import CellEncoding
from lightning_clocks.models.gpt import GPT, GPTConfig, KVCache
from lightning_clocks.modules import AutoregressiveModule, DiffusionModule


def test_kv_cache_gives_the_same_logits_as_a_full_forward() -> None:
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(sequence_length=10, vocab_size=3, n_layer=2, n_head=2, n_embd=16)).eval()
    tokens = gpt.with_bos(torch.randint(0, 3, (4, 10)))
    full = gpt(tokens)
    cache = KVCache(gpt.config, 4, tokens.device, torch.float32)
    incremental = torch.cat([gpt(tokens[:, t : t + 1], cache) for t in range(10)], dim=1)
    assert torch.allclose(full, incremental, atol=1e-5)


def test_kv_cache_continues_with_several_tokens_at_once() -> None:
    """A prefix, then chunks of 3 and 4 new tokens: each new token sees the cache and only the earlier new ones."""
    torch.manual_seed(1)
    gpt = GPT(GPTConfig(sequence_length=10, vocab_size=3, n_layer=2, n_head=2, n_embd=16)).eval()
    tokens = gpt.with_bos(torch.randint(0, 3, (4, 10)))
    full = gpt(tokens)
    cache = KVCache(gpt.config, 4, tokens.device, torch.float32)
    chunks = [gpt(tokens[:, :3], cache), gpt(tokens[:, 3:6], cache), gpt(tokens[:, 6:], cache)]
    assert cache.length == 10
    assert torch.allclose(full, torch.cat(chunks, dim=1), atol=1e-5)


def test_gpt_sampling_inverts_the_cdf() -> None:
    torch.manual_seed(0)
    module = AutoregressiveModule(sequence_length=1, vocab_size=3, n_embd=16, n_head=2)
    probabilities = torch.softmax(module.gpt(torch.tensor([[3]]))[0, -1], dim=-1)
    uniforms = torch.linspace(0.001, 0.999, 999).unsqueeze(1)
    samples = module.samples_from_noise(uniforms).squeeze(1)
    frequencies = torch.bincount(samples, minlength=3).float() / 999
    assert torch.allclose(frequencies, probabilities, atol=2e-3)


@pytest.mark.parametrize(
    "module",
    [
        AutoregressiveModule(sequence_length=8, vocab_size=2, n_embd=16, n_head=2),
        DiffusionModule(sequence_length=8, vocab_size=2, depth=1, width=16, heads=2, sampler_steps=4),
    ],
)
def test_samples_do_not_depend_on_batch_size(module) -> None:
    torch.manual_seed(0)
    for parameter in module.parameters():  # leave the adaLN-Zero start so samples vary
        parameter.data.normal_(0, 0.3)
    noise = module.sampling_noise(37, torch.Generator().manual_seed(5))
    assert torch.equal(module.decode_noise(noise, batch_size=5), module.decode_noise(noise, batch_size=100))
    assert torch.equal(module.generate(37, torch.Generator().manual_seed(5)), module.decode_noise(noise))


def test_edm_preconditioning_matches_the_paper() -> None:
    sigma, sigma_data = torch.tensor([0.5, 2.0]), 0.5
    c_skip, c_out, c_in, c_noise = edm_preconditioning(sigma, sigma_data)
    assert c_skip.tolist() == pytest.approx([0.5, 0.25 / 4.25])
    assert c_out.tolist() == pytest.approx([0.25 / math.sqrt(0.5), 1.0 / math.sqrt(4.25)])
    assert c_in.tolist() == pytest.approx([1 / math.sqrt(0.5), 1 / math.sqrt(4.25)])
    assert c_noise.tolist() == pytest.approx([math.log(0.5) / 4, math.log(2.0) / 4])


def test_karras_schedule_endpoints() -> None:
    sigmas = karras_sigmas(18, 0.002, 80.0, 7.0)
    assert sigmas.shape == (19,)
    assert sigmas[0].item() == pytest.approx(80.0) and sigmas[17].item() == pytest.approx(0.002)
    assert sigmas[18].item() == 0.0 and bool((sigmas[:-1] > sigmas[1:]).all())


def test_adaln_zero_start_makes_the_denoiser_c_skip_times_x() -> None:
    module = DiffusionModule(sequence_length=6, vocab_size=2, depth=2, width=32, heads=4)
    x, sigma = torch.randn(3, 6, 1), torch.tensor([0.1, 1.0, 10.0])
    c_skip = edm_preconditioning(sigma, 0.5)[0]
    assert torch.allclose(module.denoise(x, sigma), c_skip.view(-1, 1, 1) * x)


def test_heun_with_the_empirical_optimal_denoiser_reproduces_training_points() -> None:
    train = torch.tensor([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0], [1.0, 1.0, -1.0]], dtype=torch.float64).unsqueeze(-1)

    def empirical_optimum(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        squared = ((x.unsqueeze(1) - train.unsqueeze(0)) ** 2).sum(dim=(2, 3))
        weights = torch.softmax(-squared / (2 * sigma.view(-1, 1) ** 2), dim=1)
        return torch.einsum("bn,nlc->blc", weights, train)

    noise = torch.randn(200, 3, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    samples = heun_sample(empirical_optimum, noise, karras_sigmas(40, 0.002, 80.0, 7.0))
    distance_to_nearest = ((samples.unsqueeze(1) - train.unsqueeze(0)) ** 2).sum(dim=(2, 3)).min(1).values
    assert distance_to_nearest.max() < 1e-3


@pytest.mark.parametrize(
    ("name", "vocab_size", "channels"),
    [("sign", 2, 1), ("one_hot", 4, 4), ("analog_bits", 9, 4), ("auto", 2, 1), ("auto", 6, 6)],
)
def test_encodings_round_trip(name: str, vocab_size: int, channels: int) -> None:
    encoding = CellEncoding(name, vocab_size)
    tokens = torch.randint(0, vocab_size, (20, 7))
    cells = encoding.encode(tokens)
    assert cells.shape == (20, 7, channels) and set(cells.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(encoding.decode(cells), tokens)
    assert torch.equal(encoding.decode(cells + 0.4 * torch.randn_like(cells).clamp(-1, 1)), tokens)


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None, reason="inductor needs a C++ compiler")
def test_compiled_training_loss_matches_eager() -> None:
    torch.manual_seed(0)
    eager = DiffusionModule(sequence_length=8, vocab_size=2, depth=1, width=32, heads=2)
    compiled = DiffusionModule(sequence_length=8, vocab_size=2, depth=1, width=32, heads=2, compile_mode="default")
    compiled.load_state_dict(eager.state_dict())
    batch = torch.randint(0, 2, (16, 8), generator=torch.Generator().manual_seed(1))
    eager_loss, compiled_loss = eager.training_loss(batch), compiled.training_loss(batch)
    eager_loss.backward()
    compiled_loss.backward()
    assert compiled.compiled_loss is not compiled.loss_given_noise
    assert float(compiled_loss) == pytest.approx(float(eager_loss), rel=1e-5)
    for mine, reference in zip(compiled.parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(mine.grad, reference.grad, rtol=1e-4, atol=1e-6)
