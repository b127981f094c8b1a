"""A 1-D diffusion transformer (DiT, Peebles & Xie 2023) over the L cells of a sequence.

Same pieces as the original: a noise-level embedder, ``modulate``, ``DiTBlock`` with adaLN
modulation producing six chunks, ``FinalLayer``, and one ``initialize_weights`` that zeroes
the modulation and output layers (adaLN-Zero). Cells are embedded by a linear map and told
apart from the start by fixed sin-cos positional embeddings (learned ones initialised small
left a DiT at chance on 24-bit parity for 4,000 steps; docs/method.md, "Models"). Size presets are
named, as DiT's ``DiT_S_2``: :data:`DIT_PRESETS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class DiTConfig:
    """Shape of the denoiser network."""

    sequence_length: int
    channels: int
    depth: int = 4
    width: int = 128
    heads: int = 4
    mlp_ratio: float = 4.0



def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN modulation of ``x [B, L, D]`` by per-sample ``shift`` and ``scale [B, D]``."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def sincos_embedding(values: torch.Tensor, dim: int, max_frequency: float) -> torch.Tensor:
    """``[cos(v f_k), sin(v f_k)]`` with frequencies f_k log-spaced from 1 to ``max_frequency``."""
    half = dim // 2
    frequencies = torch.exp(torch.linspace(0, math.log(max_frequency), half, device=values.device))
    angles = values.float().unsqueeze(-1) * frequencies
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class NoiseEmbedder(nn.Module):
    """Embeds the EDM noise conditioning c_noise = ln(sigma)/4 into a width-D vector."""

    def __init__(self, width: int, frequency_dim: int = 256) -> None:
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        return self.mlp(sincos_embedding(c_noise, self.frequency_dim, max_frequency=1000.0))


class DiTBlock(nn.Module):
    """Transformer block whose layer norms are modulated and gated by the noise embedding."""

    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))

    def forward(self, x: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(conditioning).chunk(
            6, dim=1
        )
        h = modulate(self.norm1(x), shift_msa, scale_msa)
        x = x + gate_msa.unsqueeze(1) * self.attn(h, h, h, need_weights=False)[0]
        return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class FinalLayer(nn.Module):
    """Modulated norm and a linear map from the width back to the cell channels."""

    def __init__(self, width: int, channels: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(width, channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))

    def forward(self, x: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(conditioning).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    """The raw network F(x; c_noise) of EDM: ``[B, L, channels]`` -> ``[B, L, channels]``."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        if config.width % config.heads:
            raise ValueError(f"width={config.width} must be divisible by heads={config.heads}")
        self.config = config
        self.cell_embedder = nn.Linear(config.channels, config.width)
        positions = torch.arange(config.sequence_length, dtype=torch.float32)
        self.register_buffer("pos_embed", sincos_embedding(positions, config.width, max_frequency=1 / 10000))
        self.noise_embedder = NoiseEmbedder(config.width)
        self.blocks = nn.ModuleList(DiTBlock(config.width, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.final_layer = FinalLayer(config.width, config.channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Xavier-uniform linear layers; adaLN modulation and the output layer start at zero (adaLN-Zero)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for mlp_layer in (self.noise_embedder.mlp[0], self.noise_embedder.mlp[2]):
            nn.init.normal_(mlp_layer.weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        h = self.cell_embedder(x) + self.pos_embed
        conditioning = self.noise_embedder(c_noise)
        for block in self.blocks:
            h = block(h, conditioning)
        return self.final_layer(h, conditioning)


#: Capacity presets for sweeps, by name: (depth, width, heads).
DIT_PRESETS: dict[str, tuple[int, int, int]] = {
    "DiT-XS": (2, 64, 4),
    "DiT-S": (4, 128, 4),
    "DiT-M": (6, 256, 8),
    "DiT-B": (12, 384, 6),
}
