"""Exact row membership by packing and hashing, against Python sets."""

from __future__ import annotations

import pytest
import torch

from lightning_clocks.rows import RowSet, pack_rows, unpack_rows


@pytest.mark.parametrize(("vocab_size", "length"), [(2, 36), (2, 100), (9, 81), (4, 16)])
def test_contains_matches_python_set(vocab_size: int, length: int) -> None:
    generator = torch.Generator().manual_seed(0)
    reference = torch.randint(vocab_size, (300, length), generator=generator)
    others = torch.randint(vocab_size, (300, length), generator=generator)
    near = reference[:100].clone()
    near[:, -1] = (near[:, -1] + 1) % vocab_size  # differ in the last cell only
    queries = torch.cat([reference[::3], others, near])
    known = {tuple(row) for row in reference.tolist()}
    expected = [tuple(row) in known for row in queries.tolist()]
    assert RowSet(reference, vocab_size).contains(queries).tolist() == expected


def test_packing_is_lossless() -> None:
    rows = torch.randint(9, (50, 81), generator=torch.Generator().manual_seed(1))
    packed = pack_rows(rows, 9)
    assert torch.unique(packed, dim=0).shape[0] == len({tuple(r) for r in rows.tolist()})
    assert packed.shape == (50, 6)  # 4 bits a cell, 15 cells a word


@pytest.mark.parametrize(("vocab_size", "length"), [(2, 36), (2, 100), (9, 81), (3, 7)])
def test_unpacking_inverts_packing_and_the_set_returns_its_rows(vocab_size: int, length: int) -> None:
    rows = torch.randint(vocab_size, (40, length), generator=torch.Generator().manual_seed(2))
    assert torch.equal(unpack_rows(pack_rows(rows, vocab_size), vocab_size, length), rows)
    stored = RowSet(rows, vocab_size)
    assert sorted(map(tuple, stored.rows().tolist())) == sorted(map(tuple, rows.tolist()))
    assert torch.equal(torch.cat([stored.rows(0, 15), stored.rows(15)]), stored.rows())
