"""A nanoGPT-style decoder over rule tokens, with a BOS token and a KV cache for sampling.

Reads top to bottom as the architecture: config, attention, MLP, block, GPT. Token ids are
``0..vocab_size-1``; ``vocab_size`` itself is BOS. Position ``t`` predicts token ``t``
from BOS and tokens ``< t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GPTConfig:
    """Shape of the decoder."""

    sequence_length: int
    vocab_size: int
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0


class KVCache:
    """Keys and values of every layer for incremental decoding: ``[n_layer, B, n_head, T, head_dim]``."""

    def __init__(self, config: GPTConfig, batch_size: int, device: torch.device, dtype: torch.dtype) -> None:
        shape = (config.n_layer, batch_size, config.n_head, config.sequence_length, config.n_embd // config.n_head)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention; with a cache it appends the new keys and attends to all cached ones."""

    def __init__(self, config: GPTConfig, layer_index: int) -> None:
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd={config.n_embd} must be divisible by n_head={config.n_head}")
        self.layer_index = layer_index
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        batch, time, channels = x.shape
        q, k, v = self.c_attn(x).split(channels, dim=2)
        # [B, T, C] -> [B, n_head, T, head_dim]
        q, k, v = (t.view(batch, time, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        mask = None
        if cache is None:
            causal = True
        else:
            # The T new tokens sit at positions start..end-1 after the cached ones; their keys and values join the
            # cache, and the queries attend to all cached positions [0, end).
            start, end = cache.length, cache.length + time
            cache.keys[self.layer_index, :, :, start:end] = k
            cache.values[self.layer_index, :, :, start:end] = v
            k, v = cache.keys[self.layer_index, :, :, :end], cache.values[self.layer_index, :, :, :end]
            causal = time > 1 and start == 0
            if time > 1 and start > 0:
                # New token i (position start + i) may see positions <= start + i: a causal mask shifted by start.
                mask = torch.ones(time, end, dtype=torch.bool, device=x.device).tril(diagonal=start)
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=dropout)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(batch, time, channels)))


class MLP(nn.Module):
    """Position-wise feed-forward network, 4x wide, GELU."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, config: GPTConfig, layer_index: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config, layer_index)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Decoder-only transformer that models ``p(x_t | BOS, x_<t)`` over fixed-length sequences."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.bos_token = config.vocab_size
        self.wte = nn.Embedding(config.vocab_size + 1, config.n_embd)
        self.wpe = nn.Embedding(config.sequence_length, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, index) for index in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # GPT-2 init: N(0, 0.02) everywhere, residual projections scaled by 1/sqrt(2 * n_layer).
        self.apply(self._init_weights)
        for name, parameter in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Next-token logits ``[B, T, vocab_size]`` for input tokens ``[B, T]`` (continuing ``cache`` if given)."""
        start = 0 if cache is None else cache.length
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        x = self.drop(self.wte(tokens) + self.wpe(positions))
        for block in self.blocks:
            x = block(x, cache)
        if cache is not None:
            cache.length += tokens.shape[1]
        return self.lm_head(self.ln_f(x))

    def with_bos(self, sequences: torch.Tensor) -> torch.Tensor:
        """Model inputs for ``sequences``: BOS followed by all tokens but the last."""
        bos = torch.full_like(sequences[:, :1], self.bos_token)
        return torch.cat([bos, sequences[:, :-1]], dim=1)

    def loss(self, sequences: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of ``sequences``."""
        logits = self(self.with_bos(sequences))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), sequences.reshape(-1))

    def sequence_log_likelihood(self, sequences: torch.Tensor) -> torch.Tensor:
        """Log-probability of each whole sequence, ``[B]``."""
        log_probs = F.log_softmax(self(self.with_bos(sequences)).float(), dim=-1)
        return log_probs.gather(-1, sequences.unsqueeze(-1)).squeeze(-1).sum(dim=-1)

    @torch.no_grad()
    def generate(self, uniforms: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Ancestral sampling, one token at a time with the KV cache.

        Token ``t`` of sample ``i`` is drawn by inverting the CDF of ``p(x_t | ...)`` at
        ``uniforms[i, t]``, so a sample depends only on its own row of uniforms.
        """
        batch = uniforms.shape[0]
        cache = KVCache(self.config, batch, uniforms.device, self.lm_head.weight.dtype)
        token = torch.full((batch, 1), self.bos_token, dtype=torch.long, device=uniforms.device)
        sampled = []
        for position in range(self.config.sequence_length):
            # Feed only the newest token: the cache holds the keys and values of every earlier one.
            logits = self(token, cache)[:, -1].float() / temperature
            cdf = torch.softmax(logits, dim=-1).cumsum(dim=-1)
            # Inverse CDF: the token is the number of classes whose cumulative probability lies below the uniform.
            token = (cdf < uniforms[:, position : position + 1]).sum(dim=-1, keepdim=True)
            token = token.clamp(max=self.config.vocab_size - 1)  # a uniform above cdf[-1] by rounding
            sampled.append(token)
        return torch.cat(sampled, dim=1)
