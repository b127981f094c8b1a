"""Reference denoisers for the score landscape (docs/method.md, "Basins"): what an ideal model's D(x; sigma) would be.

A denoiser maps noisy cells ``x = c + sigma * n`` (``[B, L, C]``) and noise levels ``sigma``
(``[B]``) to the posterior mean ``E[c | x]``. For a uniform prior over a finite set of points
``y_1 .. y_M`` the posterior weights are ``softmax_m(-|x - y_m|^2 / (2 sigma^2))``, so

- the **empirical-optimal** denoiser is that mixture over the encoded training set: a model that
  reproduces it has memorized (its probability-flow ODE ends on a training point);
- the **population** denoiser is that mixture over every valid sequence: a model that reproduces
  it has learned the rule and nothing more. For a rule with a small valid set it is computed by
  enumeration; for group parity with the ``sign`` encoding it has a closed form (below);
- the **floor** denoiser is what an untrained adaLN-Zero network gives: its output layer is zero, so
  F = 0 and the EDM-preconditioned denoiser is ``D(x; sigma) = c_skip(sigma) x``. The probability-flow
  ODE then only rescales x by a positive factor, so a target returns exactly when every cell keeps its
  sign under the noise (for ``sign`` cells, probability ``Phi(1/sigma)^L``).

Closed form for group parity. With cells ``x_i = 2 b_i - 1`` (``+1`` for a one bit), a group of
G cells has an even number of ones exactly when ``prod_j x_j = s`` with ``s = (-1)^G``. Write the
constraint as ``1[prod x = s] = (1 + s prod_j x_j) / 2`` and ``a_j = y_j / sigma^2``,
``t_j = tanh(a_j)``. Summing ``exp(sum_j a_j x_j)`` over the ``2^G`` sign patterns gives
``Z ∝ 1 + s prod_j t_j`` and ``Z E[x_i | y] ∝ t_i + s prod_{j != i} t_j``, so

    E[x_i | y] = (t_i + s prod_{j != i} t_j) / (1 + s prod_j t_j) = tanh(a_i + atanh(s prod_{j != i} t_j)).

Groups are independent, so each cell needs only its own group. The second form is evaluated in
log space (``-log|tanh a_j|`` and a log-sum-exp over the group), which stays exact where every
``|t_j|`` rounds to 1, so the least confident cell of an odd group is still the one that flips.
"""

from __future__ import annotations

import math

import torch

from lightning_clocks.data import draw_distinct
from lightning_clocks.errors import ConfigError
from lightning_clocks.models.edm import Denoiser, edm_preconditioning
from lightning_clocks.models.encoding import CellEncoding
from lightning_clocks.rules import GroupParity, Rule

#: Largest ``vocab_size ** length`` enumerated exhaustively; beyond it the valid set is collected by sampling.
EXHAUSTIVE_LIMIT = 2**22


class EmpiricalDenoiser:
    """Posterior mean under a uniform prior over ``points`` (``[M, L, C]``): a softmax-weighted mixture.

    The mixture is accumulated over chunks of ``chunk_size`` points with a running log-sum-exp, so
    memory grows with ``batch * chunk_size``, never ``batch * M`` (M = 1e5 training points fits).
    """

    def __init__(self, points: torch.Tensor, chunk_size: int = 4096) -> None:
        if points.dim() != 3 or points.shape[0] == 0:
            raise ValueError(f"points must be a non-empty [M, L, C] tensor, got shape {tuple(points.shape)}")
        if chunk_size < 1:
            raise ConfigError(f"chunk_size={chunk_size} is invalid: it must be a positive integer")
        self.points = points.flatten(1)
        self.chunk_size = chunk_size
        self._placed: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def _points_on(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The flattened points and half their squared norms on ``device`` (cached per device and dtype)."""
        key = (device, dtype)
        if key not in self._placed:
            points = self.points.to(device=device, dtype=dtype)
            self._placed[key] = (points, 0.5 * (points**2).sum(dim=-1))
        return self._placed[key]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        points, half_norms = self._points_on(x.device, x.dtype)
        flat = x.flatten(1)
        inverse_variance = (1.0 / sigma.to(x.dtype) ** 2).unsqueeze(-1)
        running_max = torch.full((flat.shape[0], 1), -math.inf, dtype=x.dtype, device=x.device)
        weight_sum = torch.zeros_like(running_max)
        weighted_points = torch.zeros_like(flat)
        for start in range(0, points.shape[0], self.chunk_size):
            chunk, chunk_half_norms = (
                points[start : start + self.chunk_size],
                half_norms[start : start + self.chunk_size],
            )
            # -|x - y|^2 / (2 sigma^2) up to the per-row constant -|x|^2 / (2 sigma^2), which cancels.
            logits = (flat @ chunk.T - chunk_half_norms) * inverse_variance
            new_max = torch.maximum(running_max, logits.max(dim=-1, keepdim=True).values)
            rescale = (running_max - new_max).exp()
            weights = (logits - new_max).exp()
            weight_sum = weight_sum * rescale + weights.sum(dim=-1, keepdim=True)
            weighted_points = weighted_points * rescale + weights @ chunk
            running_max = new_max
        return (weighted_points / weight_sum).view_as(x)


class ParityDenoiser:
    """Exact population denoiser of group parity for ``sign``-encoded cells (closed form, module docstring)."""

    def __init__(self, rule: GroupParity) -> None:
        self.groups = rule.groups
        self.length = rule.length
        self.constraint_sign = (-1.0) ** rule.group_size

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (self.length, 1):
            raise ValueError(f"expected sign-encoded cells [B, {self.length}, 1], got {tuple(x.shape)}")
        groups = self.groups.to(x.device)
        field = x[..., 0] / sigma.to(x.dtype).view(-1, 1) ** 2  # a_i = y_i / sigma^2
        grouped = field[:, groups]  # [B, num_groups, G]
        # log u_j with u_j = -log|tanh a_j| = 2 atanh(exp(-2|a_j|)); for large |a_j|, log 2 - 2|a_j| (exact to 1e-17).
        magnitude = grouped.abs()
        log_u = torch.where(
            magnitude > 10,
            math.log(2) - 2 * magnitude,
            torch.log(2 * torch.atanh(torch.exp(-2 * magnitude.clamp(max=10)))),
        )
        size = groups.shape[1]
        diagonal = torch.eye(size, dtype=torch.bool, device=x.device)
        # U_i = -log|prod_{j != i} t_j| in log space (an empty product, G = 1, gives U = 0).
        log_u_others = torch.logsumexp(log_u.unsqueeze(-2).masked_fill(diagonal, -math.inf), dim=-1)
        u_others = log_u_others.exp()
        # atanh(exp(-U)) = (log1p(exp(-U)) - log(1 - exp(-U))) / 2; for small U, log(1 - exp(-U)) is a series in U.
        series = log_u_others - u_others / 2 + u_others**2 / 24
        log_one_minus = torch.where(u_others < 1e-3, series, torch.log(-torch.expm1(-u_others.clamp(min=1e-3))))
        message = 0.5 * (torch.log1p(torch.exp(-u_others)) - log_one_minus)
        signs = torch.where(grouped >= 0, 1.0, -1.0).to(x.dtype)
        sign_others = signs.prod(dim=-1, keepdim=True) * signs * self.constraint_sign
        posterior_mean = torch.tanh(grouped + sign_others * message)
        out = torch.empty_like(field)
        out[:, groups] = posterior_mean
        return out.unsqueeze(-1)


class FloorDenoiser:
    """The trivial floor ``D(x; sigma) = c_skip(sigma) x``: the EDM denoiser of a network whose output is 0."""

    def __init__(self, sigma_data: float) -> None:
        if not sigma_data > 0:
            raise ConfigError(f"sigma_data={sigma_data} is invalid: it must be > 0")
        self.sigma_data = sigma_data

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        c_skip = edm_preconditioning(sigma.to(x.dtype), self.sigma_data)[0]
        return c_skip.view(-1, *([1] * (x.dim() - 1))) * x


def enumerate_valid(rule: Rule, max_count: int = 100_000) -> torch.Tensor:
    """Every valid sequence of ``rule`` (``LongTensor[valid_count, L]``), for rules with a small valid set.

    Exhaustive over ``vocab_size ** length`` sequences when that is at most ``EXHAUSTIVE_LIMIT``,
    otherwise collected by sampling distinct valid sequences until all ``valid_count`` are found.
    """
    count = rule.valid_count
    if count is None or count > max_count:
        raise ConfigError(
            f"rule {rule.name!r} has {count if count is not None else 'an unknown number of'} valid sequences; "
            f"the population denoiser by enumeration allows at most max_count={max_count}"
        )
    total = rule.vocab_size**rule.length
    if total > EXHAUSTIVE_LIMIT:
        return draw_distinct(rule, count, torch.Generator().manual_seed(0), max_rounds=100 * count)
    valid = []
    block = 2**16
    place_values = rule.vocab_size ** torch.arange(rule.length - 1, -1, -1)
    for start in range(0, total, block):
        codes = torch.arange(start, min(start + block, total)).unsqueeze(-1)
        sequences = (codes // place_values) % rule.vocab_size
        valid.append(sequences[rule.is_valid(sequences)])
    return torch.cat(valid)


def population_denoiser(
    rule: Rule, encoding: CellEncoding, max_count: int = 100_000, chunk_size: int = 4096
) -> Denoiser | None:
    """The rule's exact population denoiser: closed form for sign-encoded group parity, else by enumeration.

    ``None`` when neither applies (the valid set is unknown or larger than ``max_count``).
    """
    if isinstance(rule, GroupParity) and encoding.name == "sign":
        return ParityDenoiser(rule)
    if rule.valid_count is None or rule.valid_count > max_count:
        return None
    return EmpiricalDenoiser(encoding.encode(enumerate_valid(rule, max_count)), chunk_size)
