"""The one DataModule, shared by every rule and both model families (docs/method.md, "Data").

It draws ``n_train`` distinct valid training sequences and a disjoint control set of
``n_control`` valid sequences (default: as many as the training set) that the model never
sees, both from ``seed``. Training time is counted in optimizer steps: the training loader
is an endless stream of batches drawn uniformly with replacement, where the batch for step
``s`` on rank ``r`` depends only on ``(seed, r, s)``, so a resumed run sees the same batches
as an uninterrupted one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, IterableDataset

from lightning_clocks.errors import ConfigError, require_non_negative, require_positive
from lightning_clocks.rows import pack_rows
from lightning_clocks.rules import Rule
from lightning_clocks.seeds import derive_seed

#: Stream offsets that keep the training set, control set and batch streams independent.
_TRAIN_STREAM, _BATCH_STREAM = 0, 1


def draw_distinct(rule: Rule, count: int, generator: torch.Generator, max_rounds: int = 1000) -> torch.Tensor:
    """Draw ``count`` distinct valid sequences, in the order the sampler first produced them."""
    kept = torch.empty(0, rule.length, dtype=torch.long)
    for _ in range(max_rounds):
        missing = count - kept.shape[0]
        if missing <= 0:
            return kept[:count]
        candidates = torch.cat([kept, rule.sample(max(2 * missing, 256), generator)])
        _, inverse = torch.unique(pack_rows(candidates, rule.vocab_size), dim=0, return_inverse=True)
        first_seen = torch.full((int(inverse.max()) + 1,), candidates.shape[0], dtype=torch.long)
        first_seen.scatter_reduce_(0, inverse, torch.arange(candidates.shape[0]), reduce="amin")
        kept = candidates[first_seen.sort().values]
    raise RuntimeError(f"could not draw {count} distinct valid sequences of {rule.name} in {max_rounds} rounds")


class StepBatches(IterableDataset):
    """Endless training batches; the batch for each step is drawn from its own seeded generator."""

    def __init__(self, train: torch.Tensor, batch_size: int, seed: int, rank: int, start_step: int) -> None:
        super().__init__()
        self.train = train
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.start_step = start_step

    def __iter__(self) -> Iterator[torch.Tensor]:
        step = self.start_step
        generator = torch.Generator()
        while True:
            generator.manual_seed(derive_seed(self.seed, _BATCH_STREAM, self.rank, step))
            yield self.train[torch.randint(self.train.shape[0], (self.batch_size,), generator=generator)]
            step += 1


def memory_bytes() -> int:
    """This machine's physical memory in bytes (what an absurd batch size is measured against)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class RuleDataModule(L.LightningDataModule):
    """Training and control sets of one rule, and the stream of training batches."""

    def __init__(
        self, rule: Rule, n_train: int = 1024, n_control: int | None = None, batch_size: int = 256, seed: int = 0
    ) -> None:
        """
        Args:
            rule: the rule that defines valid sequences (e.g. ``GroupParity``).
            n_train: N, the number of distinct training sequences.
            n_control: size of the held-out control set of valid sequences (default: N).
            batch_size: sequences per optimizer step, drawn uniformly with replacement.
            seed: seed of the training set, the control set and the batch stream.
        """
        super().__init__()
        require_positive("data.n_train", n_train)
        require_positive("data.batch_size", batch_size)
        n_control = n_train if n_control is None else n_control
        require_positive("data.n_control", n_control)
        require_non_negative("data.seed", seed)
        batch_bytes = batch_size * rule.length * torch.empty(0, dtype=torch.long).element_size()
        if batch_bytes > memory_bytes() // 4:
            raise ConfigError(
                f"data.batch_size={batch_size} is too large: one batch of {rule.length}-token sequences alone takes "
                f"{batch_bytes / 2**30:.1f} GiB of this machine's {memory_bytes() / 2**30:.0f} GiB; allowed: "
                f"batch_size <= {memory_bytes() // 4 // (rule.length * 8)}"
            )
        valid_count = rule.valid_count
        if valid_count is not None and valid_count >= rule.vocab_size**rule.length:
            raise ConfigError(
                f"data.rule={rule.name!r} with these options is degenerate: all {valid_count} sequences of length "
                f"{rule.length} are valid, so validity is 1 from the first step; allowed: a rule some sequences break"
            )
        if valid_count is not None and n_train + n_control > valid_count:
            raise ConfigError(
                f"data.n_train={n_train} plus data.n_control={n_control} exceeds the {valid_count} valid "
                f"sequences of the rule {rule.name!r}; allowed: n_train + n_control <= {valid_count}"
            )
        self.rule = rule
        self.n_train = n_train
        self.n_control = n_control
        self.batch_size = batch_size
        self.seed = seed
        self.train_set: torch.Tensor | None = None
        self.control_set: torch.Tensor | None = None

    @property
    def sequence_length(self) -> int:
        """L of the rule (the CLI links it to the model)."""
        return self.rule.length

    @property
    def vocab_size(self) -> int:
        """K of the rule (the CLI links it to the model)."""
        return self.rule.vocab_size

    def setup(self, stage: str) -> None:
        """Draw the training and control sets (identically on every rank)."""
        if self.train_set is not None:
            return
        generator = torch.Generator().manual_seed(derive_seed(self.seed, _TRAIN_STREAM))
        both = draw_distinct(self.rule, self.n_train + self.n_control, generator)
        self.train_set, self.control_set = both[: self.n_train], both[self.n_train :]

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        rank = trainer.global_rank if trainer is not None else 0
        start_step = trainer.global_step if trainer is not None else 0
        batches = StepBatches(self.train_set, self.batch_size, self.seed, rank, start_step)
        return DataLoader(batches, batch_size=None, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        """One empty batch, so ``clocks validate`` runs the evaluation callback once."""
        return DataLoader([torch.empty(0, self.rule.length, dtype=torch.long)], batch_size=None)
