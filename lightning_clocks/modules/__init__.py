"""LightningModules: the DiT and the GPT behind one ``GenerativeModule`` interface."""

from lightning_clocks.modules.autoregressive import AutoregressiveModule
from lightning_clocks.modules.base import GenerativeModule
from lightning_clocks.modules.diffusion import DiffusionModule

__all__ = ["AutoregressiveModule", "DiffusionModule", "GenerativeModule"]
