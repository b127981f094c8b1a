"""An ensemble of seeds of one model trained in one process, each member with its own clocks.

E copies of one model config, built with different seeds, have their parameters stacked along a new
leading dimension (``torch.func.stack_module_state``). A training step computes every member's loss
on its own batch at once, with ``torch.vmap`` over ``torch.func.functional_call``. The members are
independent, so the gradient of the sum of their losses gives each member exactly its own gradient;
AdamW is elementwise, so one AdamW over the stacked tensors is E separate AdamWs. Member i thus
follows the training of a separate run with seed s_i, up to float rounding (with GPT dropout > 0, the
members draw other dropout masks than separate runs would).

Each member keeps its own :class:`~lightning_clocks.data.RuleDataModule` (training set, control set
and batch stream of its seed) and its own :class:`~lightning_clocks.callbacks.ClockCallback`, which
samples the member's weights on the usual schedule and writes ``curves.csv`` and ``clocks.json`` to
``<run folder>/<member name>``, as a single run writes them; with ``clocks.stop_when_memorized``,
training stops once every member has memorized. One process, one device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from lightning_clocks.callbacks import ClockCallback
from lightning_clocks.data import RuleDataModule
from lightning_clocks.errors import ConfigError, NonFiniteLossError
from lightning_clocks.modules import GenerativeModule
from lightning_clocks.modules.loss_logging import LossLoggingModule


class MemberLoss(nn.Module):
    """A member's ``loss_given_noise`` as ``forward``, so that ``functional_call`` can run it with any weights."""

    def __init__(self, module: GenerativeModule) -> None:
        super().__init__()
        self.module = module

    def forward(self, batch: torch.Tensor, *noise: torch.Tensor) -> torch.Tensor:
        return self.module.loss_given_noise(batch, *noise)


class EnsembleModule(LossLoggingModule):
    """E members of one model config with stacked parameters, trained together by one vmapped loss and one AdamW."""

    def __init__(self, members: Sequence[GenerativeModule], names: Sequence[str]) -> None:
        """
        Args:
            members: the models, one per seed, built from one config (same class and hyperparameters). Their
                weights are copied; ``members[0]`` becomes the frozen template (see :attr:`template`).
            names: one name per member (``seed-0``, ...): its results folder and its name in messages.
        """
        super().__init__()
        template = members[0]
        if not isinstance(template, GenerativeModule):
            # Every GenerativeModule's loss splits into drawn noise and a pure function of it, which vmap needs.
            allowed = sorted(model.__name__ for model in GenerativeModule.__subclasses__())
            raise ConfigError(f"model={type(template).__name__} cannot be trained as an ensemble; allowed: {allowed}")
        if any(type(member) is not type(template) or member.hparams != template.hparams for member in members):
            raise ConfigError("the members of an ensemble must share one model config (class and hyperparameters)")
        if len(names) != len(members) or len(set(names)) != len(names):
            raise ValueError(f"need one distinct name per member, got {list(names)} for {len(members)} members")
        self.names = list(names)
        stacked, _ = torch.func.stack_module_state(list(members))
        self.stacked = nn.ParameterList(nn.Parameter(tensor) for tensor in stacked.values())
        # The first member's module gives every member's structure and buffers; the stacked tensors are the weights.
        self.member_loss = MemberLoss(template)
        self.template.requires_grad_(False)
        self.loss_parameter_names = [f"module.{name}" for name in stacked]

    @property
    def template(self) -> GenerativeModule:
        """The module every member runs in: it holds one member's weights while that member is sampled."""
        return self.member_loss.module

    def _loss_of_member(
        self, parameters: dict[str, torch.Tensor], batch: torch.Tensor, *noise: torch.Tensor
    ) -> torch.Tensor:
        return torch.func.functional_call(self.member_loss, parameters, (batch, *noise))

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """One step of every member: row i of ``batch [E, B, L]`` is member i's batch; the noise is the same
        for all members, as in separate runs of one config."""
        noise = self.template.training_noise(batch.shape[1], self.global_step, self.global_rank)
        parameters = dict(zip(self.loss_parameter_names, self.stacked, strict=True))
        in_dims = (0, 0, *[None] * len(noise))
        losses = torch.vmap(self._loss_of_member, in_dims, randomness="different")(parameters, batch, *noise)
        finite = torch.isfinite(losses)
        if not finite.all():
            failed = [name for name, ok in zip(self.names, finite.tolist(), strict=True) if not ok]
            raise NonFiniteLossError(
                f"training loss of {failed} became non-finite after {self.global_step} optimizer steps; "
                "curves and clocks up to the last evaluation are saved; lower model.lr or check the data"
            )
        self.last_loss = losses.detach().mean()
        return losses.sum()

    @torch.no_grad()
    def member(self, index: int) -> GenerativeModule:
        """The template holding member ``index``'s current weights, until the next call."""
        for parameter, stacked in zip(self.template.parameters(), self.stacked, strict=True):
            parameter.copy_(stacked[index])
        return self.template

    def configure_optimizers(self) -> dict[str, Any]:
        """The members' own optimizer and schedule (the template's), pointed at the stacked tensors before any step."""
        config = self.template.configure_optimizers()
        stacked_of = {id(parameter): self.stacked[index] for index, parameter in enumerate(self.template.parameters())}
        for group in config["optimizer"].param_groups:
            group["params"] = [stacked_of[id(parameter)] for parameter in group["params"]]
        return config


class StackedBatches(IterableDataset):
    """Zips the members' batch streams: one ``[E, B, L]`` tensor per step."""

    def __init__(self, loaders: Sequence[DataLoader]) -> None:
        super().__init__()
        self.loaders = list(loaders)

    def __iter__(self) -> Iterator[torch.Tensor]:
        for batches in zip(*self.loaders, strict=True):
            yield torch.stack(batches)


class EnsembleDataModule(L.LightningDataModule):
    """The members' RuleDataModules side by side: each keeps its seed's training set, control set and batches."""

    def __init__(self, members: Sequence[RuleDataModule]) -> None:
        super().__init__()
        self.members = list(members)

    def setup(self, stage: str) -> None:
        for member in self.members:
            member.setup(stage)

    def train_dataloader(self) -> DataLoader:
        for member in self.members:
            member.trainer = self.trainer  # each batch stream then starts at the trainer's step, on its rank
        return DataLoader(StackedBatches([member.train_dataloader() for member in self.members]), batch_size=None)


class EnsembleClockCallback(L.Callback):
    """Each member's ClockCallback, run on the member's weights and data, writing to ``<run folder>/<name>``."""

    def __init__(self, clocks: Sequence[ClockCallback]) -> None:
        """
        Args:
            clocks: one ClockCallback per member, in the members' order (usually all from one config).
        """
        super().__init__()
        self.clocks = list(clocks)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not isinstance(pl_module, EnsembleModule) or not isinstance(trainer.datamodule, EnsembleDataModule):
            raise ConfigError("EnsembleClockCallback needs an EnsembleModule trained on an EnsembleDataModule")
        if not len(self.clocks) == len(pl_module.names) == len(trainer.datamodule.members):
            raise ValueError("an ensemble needs one ClockCallback and one RuleDataModule per member")
        for clock, data in zip(self.clocks, trainer.datamodule.members, strict=True):
            clock.prepare(trainer.max_steps, data)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: EnsembleModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        due = [index for index, clock in enumerate(self.clocks) if clock.is_due(step)]
        for index in due:
            self.clocks[index].record(step, pl_module.member(index), trainer.datamodule.members[index])
            self._write_results(trainer, pl_module, index)
        if due and all(clock.should_stop() for clock in self.clocks):
            trainer.should_stop = True

    def on_train_end(self, trainer: L.Trainer, pl_module: EnsembleModule) -> None:
        for index, clock in enumerate(self.clocks):
            if clock.rows:
                self._write_results(trainer, pl_module, index)

    def _write_results(self, trainer: L.Trainer, pl_module: EnsembleModule, index: int) -> None:
        run_dir = Path(trainer.default_root_dir) / pl_module.names[index]
        data = trainer.datamodule.members[index]
        self.clocks[index].write_results(run_dir, data, pl_module.template, trainer.global_step)
