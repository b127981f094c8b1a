"""Exact set membership for token rows, by packing and hashing (never an M x N distance matrix).

Rows of tokens are packed into int64 words (``bits`` per token, 63 bits per word at most);
a row that fits one word is its own key, longer rows are hashed to one int64 key and checked
word by word against the candidate found by binary search, so membership stays exact.
"""

from __future__ import annotations

import math

import torch

_WORD_BITS = 63
_MIX = 0x9E3779B97F4A7C15 - 2**64  # golden-ratio multiplier as a signed int64


def bits_per_token(vocab_size: int) -> int:
    """Bits needed to store one token of a ``vocab_size`` vocabulary."""
    return max(1, math.ceil(math.log2(vocab_size)))


def pack_rows(rows: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Pack ``LongTensor[M, L]`` tokens losslessly into ``LongTensor[M, W]`` words (memory: the words only)."""
    bits = bits_per_token(vocab_size)
    per_word = _WORD_BITS // bits
    num_rows, length = rows.shape
    words = torch.zeros(num_rows, -(-length // per_word), dtype=torch.long, device=rows.device)
    for position in range(length):
        word, slot = divmod(position, per_word)
        words[:, word] |= rows[:, position].long() << (slot * bits)
    return words


def unpack_rows(words: torch.Tensor, vocab_size: int, length: int) -> torch.Tensor:
    """The inverse of :func:`pack_rows`: ``LongTensor[M, L]`` tokens from ``LongTensor[M, W]`` words."""
    bits = bits_per_token(vocab_size)
    per_word = _WORD_BITS // bits
    shifts = torch.arange(per_word, device=words.device) * bits
    tokens = (words.unsqueeze(-1) >> shifts) & ((1 << bits) - 1)
    return tokens.flatten(1)[:, :length]


def row_keys(words: torch.Tensor) -> torch.Tensor:
    """One int64 key per packed row: the word itself when there is one, a multiplicative hash otherwise."""
    keys = words[:, 0].clone()
    for column in range(1, words.shape[1]):
        keys = (keys * _MIX) ^ words[:, column]
    return keys


class RowSet(torch.nn.Module):
    """A set of reference rows (e.g. the training set) answering exact membership queries.

    It is a module so that ``.to(device)`` moves its sorted keys with the metrics that share it;
    the packed rows are all it keeps (8 bytes a row for 36 bits), and :meth:`rows` unpacks them.
    """

    def __init__(self, rows: torch.Tensor, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.length = rows.shape[1]
        words = pack_rows(rows, vocab_size)
        keys, order = torch.sort(row_keys(words))
        words = words[order]
        same_key = keys[1:] == keys[:-1]
        if bool((same_key & (words[1:] != words[:-1]).any(dim=-1)).any()):
            raise RuntimeError("hash collision between two distinct reference rows; please report this case")
        self.register_buffer("keys", keys, persistent=False)
        self.register_buffer("words", words, persistent=False)

    def __len__(self) -> int:
        return self.keys.shape[0]

    def contains(self, rows: torch.Tensor) -> torch.Tensor:
        """``BoolTensor[M]``: whether each row is exactly one of the reference rows."""
        words = pack_rows(rows, self.vocab_size)
        keys = row_keys(words)
        position = torch.searchsorted(self.keys, keys).clamp(max=len(self) - 1)
        return (self.keys[position] == keys) & (self.words[position] == words).all(dim=-1)

    def rows(self, start: int = 0, end: int | None = None) -> torch.Tensor:
        """Reference rows ``start`` to ``end`` as tokens ``LongTensor[R, L]`` (in key order, not input order)."""
        return unpack_rows(self.words[start:end], self.vocab_size, self.length)
