"""LightningModules that learn transitive inference with an exception from labelled pairs (docs/method.md).

A :class:`PairModule` scores ordered pairs (:meth:`PairModule.pair_outputs`: positive means the first
item wins) and trains on labels ``+1`` / ``-1`` with a logistic loss ``log(1 + exp(-y f))`` or a squared
loss ``(f - y)^2 / 2``, averaged over the batch. Its probability that the first item wins is
``sigmoid(f)`` under the logistic loss and ``clip((1 + f) / 2, 0, 1)`` under the squared loss (least
squares on +-1 labels estimates ``2 P - 1``); either way a pair is answered right exactly when its
margin ``f * label`` is positive. :class:`PairMLPModule` and :class:`PairTransformerModule` wrap the
networks of :mod:`lightning_clocks.relational.models`; the language model lives in
:mod:`lightning_clocks.relational.lm`.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, Final

import torch
import torch.nn.functional as F

from lightning_clocks.errors import ConfigError, NonFiniteLossError, require_positive
from lightning_clocks.modules.loss_logging import LossLoggingModule
from lightning_clocks.relational.data import split_batch
from lightning_clocks.relational.models import PairMLP, PairTransformer
from lightning_clocks.relational.task import item_name

#: The training losses on +-1 labels.
LOSSES: Final = ("logistic", "squared")
#: The optimizers: AdamW, or plain SGD (gradient descent; with the full batch and a small learning rate, the
#: linear readout then follows the exact gradient flow of the kernel theory).
OPTIMIZERS: Final = ("adamw", "sgd")


def label_loss(outputs: torch.Tensor, labels: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean logistic loss ``softplus(-y f)`` or squared loss ``(f - y)^2 / 2`` of outputs ``f`` on labels ``y``."""
    if loss == "logistic":
        return F.softplus(-labels * outputs).mean()
    return 0.5 * (outputs - labels).square().mean()


def win_probability(outputs: torch.Tensor, loss: str) -> torch.Tensor:
    """The probability that the first item wins, read from outputs trained with ``loss``."""
    if loss == "logistic":
        return torch.sigmoid(outputs)
    return ((1.0 + outputs) / 2.0).clamp(0.0, 1.0)


class PairModule(LossLoggingModule):
    """Base class of the models that answer "does the first item win?" for ordered pairs of items."""

    def __init__(
        self,
        num_items: int,
        lr: float,
        loss: str = "logistic",
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        optimizer: str = "adamw",
    ) -> None:
        """
        Args:
            num_items: n, linked from the data by the CLI.
            lr: learning rate.
            loss: ``logistic`` or ``squared`` on labels +-1.
            weight_decay: weight decay (decoupled for AdamW, an L2 term for SGD).
            betas: AdamW betas.
            optimizer: ``adamw`` or ``sgd``.
        """
        super().__init__()
        require_positive("model.num_items", num_items)
        if loss not in LOSSES:
            raise ConfigError(f"model.loss={loss!r} is unknown: choose one of {list(LOSSES)}")
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"model.optimizer={optimizer!r} is unknown: choose one of {list(OPTIMIZERS)}")
        if not lr > 0 or not math.isfinite(lr):
            raise ConfigError(f"model.lr={lr} is invalid: the learning rate must be a positive number")
        if not weight_decay >= 0 or not math.isfinite(weight_decay):
            raise ConfigError(f"model.weight_decay={weight_decay} is invalid: it must be a finite number >= 0")
        # Lightning collects the arguments of every __init__ on the stack: this class's and the subclass's.
        self.save_hyperparameters()
        self.num_items = num_items
        self.loss_name = loss

    @property
    def family(self) -> str:
        """Model family name written to results."""
        raise NotImplementedError

    @property
    def item_names(self) -> list[str]:
        """Display names of the items, strongest first (``I1 .. In``)."""
        return [item_name(index) for index in range(self.num_items)]

    @abstractmethod
    def pair_outputs(self, pairs: torch.Tensor) -> torch.Tensor:
        """Outputs ``f`` ``[B]`` for pairs ``LongTensor[B, 2]``: positive when the model says the first item wins."""

    def training_loss(self, batch: torch.Tensor) -> torch.Tensor:
        """The loss of a batch of rows ``(first, second, label)``."""
        pairs, labels = split_batch(batch)
        return label_loss(self.pair_outputs(pairs), labels, self.loss_name)

    def win_probability(self, outputs: torch.Tensor) -> torch.Tensor:
        """The probability that the first item wins, for outputs of :meth:`pair_outputs`."""
        return win_probability(outputs, self.loss_name)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = self.training_loss(batch)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss became {loss.item()} at step {self.global_step}; lower model.lr or check the data"
            )
        self.last_loss = loss.detach()
        return loss

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a checkpoint of another number of items (before its weights are loaded)."""
        saved = checkpoint.get("hyper_parameters", {}).get("num_items", self.num_items)
        if saved != self.num_items:
            raise ConfigError(
                f"the checkpoint was trained with num_items={saved}, but this config has data.num_items="
                f"{self.num_items}; resume with the run's own config.yaml"
            )

    def configure_optimizers(self) -> torch.optim.Optimizer:
        trainable = [parameter for parameter in self.parameters() if parameter.requires_grad]
        hparams = self.hparams
        if hparams["optimizer"] == "sgd":
            return torch.optim.SGD(trainable, lr=hparams["lr"], weight_decay=hparams["weight_decay"])
        return torch.optim.AdamW(
            trainable, lr=hparams["lr"], betas=hparams["betas"], weight_decay=hparams["weight_decay"]
        )


class PairMLPModule(PairModule):
    """An MLP over additive, conjunctive or mixed pair features (:class:`~.models.PairMLP`)."""

    family = "mlp"

    def __init__(
        self,
        num_items: int = 9,
        representation: str = "additive",
        alpha: float = 0.5,
        kappa_d: float = 0.0,
        hidden: Sequence[int] = (64,),
        activation: str = "relu",
        zero_readout: bool = True,
        lr: float = 1e-2,
        **kwargs: Any,
    ) -> None:
        """
        Args:
            num_items: n, linked from the data by the CLI.
            representation: input features: ``additive``, ``conjunctive`` or ``mixed``.
            alpha: conjunctivity of the ``mixed`` features, in [0, 1].
            kappa_d: kernel value of pairs sharing no slot, for the ``mixed`` features, in [0, 1).
            hidden: hidden-layer widths; ``[]`` is the linear readout of the features (the kernel model).
            activation: hidden-layer nonlinearity: ``relu``, ``gelu``, ``tanh`` or ``identity``.
            zero_readout: start the readout at zero (``f = 0``, as in the kernel theory).
            lr: learning rate.
            **kwargs: the loss and optimizer settings of :class:`PairModule`.
        """
        super().__init__(num_items, lr, **kwargs)
        self.network = PairMLP(num_items, representation, alpha, kappa_d, list(hidden), activation, zero_readout)

    def pair_outputs(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.network(pairs)


class PairTransformerModule(PairModule):
    """A small transformer over the two item tokens (:class:`~.models.PairTransformer`)."""

    family = "transformer"

    def __init__(
        self,
        num_items: int = 9,
        n_layer: int = 2,
        n_head: int = 4,
        n_embd: int = 64,
        zero_readout: bool = True,
        lr: float = 1e-3,
        **kwargs: Any,
    ) -> None:
        """
        Args:
            num_items: n, linked from the data by the CLI.
            n_layer: transformer blocks.
            n_head: attention heads per block.
            n_embd: embedding width.
            zero_readout: start the readout at zero (``f = 0``).
            lr: learning rate.
            **kwargs: the loss and optimizer settings of :class:`PairModule`.
        """
        super().__init__(num_items, lr, **kwargs)
        for option, value in (("model.n_layer", n_layer), ("model.n_head", n_head), ("model.n_embd", n_embd)):
            require_positive(option, value)
        self.network = PairTransformer(num_items, n_layer, n_head, n_embd, zero_readout)

    def pair_outputs(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.network(pairs)
