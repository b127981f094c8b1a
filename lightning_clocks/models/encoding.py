"""How the DiT turns tokens into continuous cells and back (docs/method.md, "Models").

- ``sign``: binary tokens as -1/+1 in one channel, decoded by sign (vocab_size 2 only);
- ``one_hot``: K channels, +1 for the token and -1 elsewhere, decoded by argmax;
- ``analog_bits``: the token's binary code as +-1 in ceil(log2 K) channels, decoded by sign
  (codes beyond K-1 are clamped to K-1).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from lightning_clocks.errors import ConfigError

EncodingName = Literal["auto", "sign", "one_hot", "analog_bits"]


class CellEncoding:
    """Token <-> continuous cell vectors for one vocabulary."""

    def __init__(self, name: EncodingName, vocab_size: int) -> None:
        if name == "auto":
            name = "sign" if vocab_size == 2 else "one_hot"
        if name not in ("sign", "one_hot", "analog_bits"):
            raise ConfigError(f"model.encoding={name!r} is invalid; allowed: 'auto', 'sign', 'one_hot', 'analog_bits'")
        if name == "sign" and vocab_size != 2:
            raise ConfigError(f"model.encoding='sign' needs vocab_size 2, got {vocab_size}; use 'one_hot'")
        self.name = name
        self.vocab_size = vocab_size
        self.num_bits = max(1, math.ceil(math.log2(vocab_size)))

    @property
    def channels(self) -> int:
        """Channels per cell."""
        return {"sign": 1, "one_hot": self.vocab_size, "analog_bits": self.num_bits}[self.name]

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """``LongTensor[B, L]`` -> ``FloatTensor[B, L, channels]`` with entries -1/+1."""
        if self.name == "sign":
            return (2 * tokens - 1).float().unsqueeze(-1)
        if self.name == "one_hot":
            return 2 * torch.nn.functional.one_hot(tokens, self.vocab_size).float() - 1
        bits = (tokens.unsqueeze(-1) >> torch.arange(self.num_bits, device=tokens.device)) & 1
        return 2 * bits.float() - 1

    def decode(self, cells: torch.Tensor) -> torch.Tensor:
        """``FloatTensor[B, L, channels]`` -> ``LongTensor[B, L]`` (sign or argmax)."""
        if self.name == "sign":
            return (cells[..., 0] > 0).long()
        if self.name == "one_hot":
            return cells.argmax(dim=-1)
        weights = 2 ** torch.arange(self.num_bits, device=cells.device)
        return (((cells > 0).long() * weights).sum(dim=-1)).clamp(max=self.vocab_size - 1)
