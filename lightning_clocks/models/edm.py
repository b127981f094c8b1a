"""EDM diffusion math (Karras et al. 2022) as small pure functions with the paper's symbols.

Preconditioning: D(x; sigma) = c_skip x + c_out F(c_in x; c_noise). Training draws
ln(sigma) ~ N(P_mean, P_std^2) and weights the squared error by lambda(sigma). Sampling is the
deterministic Heun solver of the probability-flow ODE on the sigma_i schedule (Algorithm 1).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def edm_preconditioning(
    sigma: torch.Tensor, sigma_data: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(c_skip, c_out, c_in, c_noise)`` for noise levels ``sigma``."""
    c_skip = sigma_data**2 / (sigma**2 + sigma_data**2)
    c_out = sigma * sigma_data / (sigma**2 + sigma_data**2).sqrt()
    c_in = 1 / (sigma_data**2 + sigma**2).sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


def edm_loss_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma * sigma_data)^2."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def training_sigmas(
    batch_size: int, p_mean: float, p_std: float, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Noise levels for a training batch: ln(sigma) ~ N(P_mean, P_std^2)."""
    normal = torch.randn(batch_size, generator=generator, device=device)
    return (normal * p_std + p_mean).exp()


def karras_sigmas(num_steps: int, sigma_min: float, sigma_max: float, rho: float) -> torch.Tensor:
    """sigma_0 > ... > sigma_{N-1} on the rho-schedule, followed by sigma_N = 0: ``[num_steps + 1]``."""
    if num_steps < 1:
        raise ValueError(f"num_steps={num_steps} must be >= 1")
    index = torch.arange(num_steps, dtype=torch.float64)
    ramp = index / max(num_steps - 1, 1)
    sigmas = (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)])


@torch.no_grad()
def heun_sample(denoiser: Denoiser, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Deterministic Heun sampler (EDM Algorithm 1, no churn) from standard-normal ``noise``."""
    x = noise * sigmas[0].to(noise.dtype)  # x_0 ~ N(0, sigma_0^2 I)
    for sigma_cur, sigma_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist(), strict=True):
        # The probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma: an Euler step from sigma_i to sigma_i+1 ...
        d_cur = (x - denoiser(x, _batch_sigma(x, sigma_cur))) / sigma_cur
        x_next = x + (sigma_next - sigma_cur) * d_cur
        if sigma_next > 0:
            # ... corrected by the trapezoidal rule (Heun's second order); the last step, to sigma = 0, stays Euler.
            d_next = (x_next - denoiser(x_next, _batch_sigma(x, sigma_next))) / sigma_next
            x_next = x + (sigma_next - sigma_cur) * (0.5 * d_cur + 0.5 * d_next)
        x = x_next
    return x


def _batch_sigma(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device)
