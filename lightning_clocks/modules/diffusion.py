"""The DiT as a LightningModule: EDM preconditioning and loss, deterministic Heun sampling."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from lightning_clocks.errors import ConfigError, check_choice, require_positive
from lightning_clocks.models.dit import DIT_PRESETS, DiT, DiTConfig
from lightning_clocks.models.edm import (
    edm_loss_weight,
    edm_preconditioning,
    heun_sample,
    karras_sigmas,
    training_sigmas,
)
from lightning_clocks.models.encoding import CellEncoding, EncodingName
from lightning_clocks.modules.base import GenerativeModule
from lightning_clocks.seeds import derive_seed

if TYPE_CHECKING:
    from lightning_clocks.basins.probe import BasinProbe


class DiffusionModule(GenerativeModule):
    """A 1-D DiT trained with the EDM loss on encoded cells; samples decoded by sign or argmax."""

    family = "dit"
    capacity_keys = ("depth", "width", "heads")

    def __init__(
        self,
        sequence_length: int = 36,
        vocab_size: int = 2,
        encoding: EncodingName = "auto",
        preset: str | None = None,
        depth: int = 4,
        width: int = 128,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        sigma_data: float = 0.5,
        sigma_min: float = 0.002,
        sigma_max: float = 80.0,
        rho: float = 7.0,
        p_mean: float = -1.2,
        p_std: float = 1.2,
        sampler_steps: int = 18,
        noise_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        """
        Args:
            sequence_length: L, linked from the data's rule by the CLI.
            vocab_size: K, linked from the data's rule by the CLI.
            encoding: ``auto`` (sign for K=2, else one-hot), ``sign``, ``one_hot`` or ``analog_bits``.
            preset: a named size (``DiT-XS``, ``DiT-S``, ``DiT-M``, ``DiT-B``) overriding depth, width, heads.
            depth: DiT blocks.
            width: hidden width.
            heads: attention heads.
            mlp_ratio: MLP hidden width over width.
            sigma_data: EDM data standard deviation.
            sigma_min: smallest sampling noise level.
            sigma_max: largest sampling noise level.
            rho: EDM sampling schedule exponent.
            p_mean: mean of ln(sigma) in training.
            p_std: standard deviation of ln(sigma) in training.
            sampler_steps: Heun steps per sample (2 * steps - 1 network evaluations).
            noise_seed: seed of the training noise; the noise of step s depends only on (noise_seed, rank, s).
            **kwargs: the optimizer settings of :class:`~lightning_clocks.modules.base.GenerativeModule`.
        """
        if preset is not None:
            check_choice("model.preset", preset, sorted(DIT_PRESETS))
            depth, width, heads = DIT_PRESETS[preset]
        super().__init__(sequence_length, vocab_size, **kwargs)
        for option, value in (
            ("model.depth", depth),
            ("model.width", width),
            ("model.heads", heads),
            ("model.sampler_steps", sampler_steps),
        ):
            require_positive(option, value)
        if width % heads:
            raise ConfigError(f"model.width={width} must be divisible by model.heads={heads}")
        if not 0 < sigma_min < sigma_max or not sigma_data > 0:
            raise ConfigError(
                f"need 0 < model.sigma_min < model.sigma_max and model.sigma_data > 0; "
                f"got sigma_min={sigma_min}, sigma_max={sigma_max}, sigma_data={sigma_data}"
            )
        self.encoding = CellEncoding(encoding, vocab_size)
        self.sigma_data = sigma_data
        self.p_mean, self.p_std = p_mean, p_std
        self.noise_seed = noise_seed
        self.register_buffer(
            "sampling_sigmas", karras_sigmas(sampler_steps, sigma_min, sigma_max, rho), persistent=False
        )
        self.net = DiT(DiTConfig(sequence_length, self.encoding.channels, depth, width, heads, mlp_ratio))

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """EDM-preconditioned denoiser D(x; sigma) for noisy cells ``x [B, L, C]`` and ``sigma [B]``."""
        c_skip, c_out, c_in, c_noise = edm_preconditioning(sigma.to(x.dtype), self.sigma_data)
        expand = (-1, 1, 1)
        return c_skip.view(expand) * x + c_out.view(expand) * self.net(c_in.view(expand) * x, c_noise)

    def training_noise(self, batch_size: int, step: int, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The noise of the training batch of ``step`` on ``rank``: levels ``sigma [B]`` and unit normals ``[B, L, C]``.

        Drawn apart from :meth:`loss_given_noise` so that the loss is a pure function that ``torch.vmap`` can batch.
        """
        generator = torch.Generator(device=self.device)
        generator.manual_seed(derive_seed(self.noise_seed, rank, step))
        sigma = training_sigmas(batch_size, self.p_mean, self.p_std, generator, self.device)
        shape = (batch_size, self.sequence_length, self.encoding.channels)
        return sigma, torch.randn(shape, generator=generator, device=self.device)

    def loss_given_noise(self, batch: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The EDM loss of ``batch`` noised at levels ``sigma [B]`` with unit normals ``noise [B, L, C]``."""
        cells = self.encoding.encode(batch)
        denoised = self.denoise(cells + noise * sigma.view(-1, 1, 1), sigma)
        weight = edm_loss_weight(sigma, self.sigma_data).view(-1, 1, 1)
        return (weight * (denoised - cells) ** 2).mean()

    def measure_basins(self, probe: BasinProbe, step: int, sampler_steps: int | None) -> list[dict[str, object]]:
        """Probability-flow basins and denoiser distances, integrated with ``sampler_steps`` Heun steps (default: the
        model's own)."""
        hparams = self.hparams
        return probe.measure_diffusion(
            step,
            self.denoise,
            self.encoding,
            sampler_steps or int(hparams["sampler_steps"]),
            float(hparams["sigma_min"]),
            float(hparams["rho"]),
            self.device,
            self.sigma_data,
        )

    def sampling_noise(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(num_samples, self.sequence_length, self.encoding.channels, generator=generator)

    def samples_from_noise(self, noise: torch.Tensor) -> torch.Tensor:
        cells = heun_sample(self.denoise, noise, self.sampling_sigmas.to(noise.dtype))
        return self.encoding.decode(cells)
