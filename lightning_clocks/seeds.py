"""Seeds derived from integer keys, so every random draw has its own reproducible stream.

The training set, the batch of step s on rank r, the diffusion noise of step s and the basin
targets each draw from ``derive_seed(seed, stream, ...)``: results then depend neither on batch
size nor on the number of ranks, and a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np


def derive_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from integer keys (stable across processes and Python versions)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] >> np.uint64(1))
