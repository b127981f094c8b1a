"""Basins of attraction and the learned score landscape (docs/method.md, "Basins"), measured on a denoiser or a GPT.

**Diffusion.** For three target classes (``train``: training samples; ``control``: held-out valid
samples, i.e. novel valid; ``invalid``: uniformly random sequences that break the rule) and a
grid of noise levels sigma, each target's cells are noised, ``x = c + sigma * n``, the
probability-flow ODE is integrated from sigma back to 0 with the deterministic Heun sampler
(``lightning_clocks.models.edm.heun_sample`` on a Karras schedule that starts at sigma), the
result is decoded, and the target *returns* when every cell decodes back to it. The **basin
radius** of a class is the largest sigma whose return rate is at least ``return_threshold``
(default 0.5), interpolated linearly in log sigma towards the next grid point; ``None`` when no
grid point reaches the threshold, and the largest grid sigma when the last one still does. At
the same noised points the learned denoiser is compared with the reference denoisers of
``lightning_clocks.denoisers``: ``distance_* = mean over points and cells of (D - D_ref)^2``.

**Autoregressive.** The counterpart of the score is the likelihood: ``log_likelihood`` is the
mean log-probability of a class's sequences (the training-minus-control gap grows as the GPT
memorizes). Basins are measured by bit flips: ``k`` cells of each target are changed, then the
GPT resamples exactly those cells with the other cells held fixed, and the target returns when
the result equals it. By default (``prefix``) the flipped cells are resampled left to right, each
from ``p(x_t | x_<t)``: an approximation that conditions each cell on its prefix only, not on
the fixed cells after it, so a flip early in the sequence is resampled with little context (even
a perfect memorizer returns from it only as often as the prefix singles out its training
sequence). ``exact`` draws the k cells jointly from the model's conditional given every other
cell, ``p(x_S | x_rest) ∝ p(x)``, scoring all ``K^k`` completions by their whole-sequence
likelihood. The radius is the largest ``k`` with return rate >= ``return_threshold``,
interpolated in log k.

All randomness (target choice, noise, flips, resampling uniforms) is drawn once from ``seed``,
so every evaluation of a run measures the same targets with the same noise.

Rows (one per evaluation x class x noise level; ``basins.csv``): ``step``, ``target_class``,
``sigma`` (diffusion) or ``flips`` (GPT), ``return_rate``, ``basin_radius`` (of the class at that
step, repeated on each of its rows); for diffusion the class's reference radii ``floor_radius``,
``population_radius``, ``memorizer_radius``, its ``expansion`` and, for training targets,
``dominance``, ``dominance_low``, ``dominance_high`` (:mod:`~lightning_clocks.basins.calibration`;
the references' return outcomes are computed once, at the first evaluation), then
``distance_empirical``, ``distance_population`` (diffusion; empty where the rule has no exact
population denoiser) and ``log_likelihood`` (GPT). The column order is
:data:`~lightning_clocks.basins.table.BASIN_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from lightning_clocks.basins.calibration import basin_radius, calibration_columns
from lightning_clocks.basins.denoisers import EmpiricalDenoiser, FloorDenoiser, population_denoiser
from lightning_clocks.basins.table import TARGET_CLASSES
from lightning_clocks.errors import ConfigError
from lightning_clocks.models.edm import Denoiser, heun_sample, karras_sigmas
from lightning_clocks.models.encoding import CellEncoding
from lightning_clocks.models.gpt import GPT
from lightning_clocks.rules import Rule
from lightning_clocks.seeds import derive_seed

#: Default noise levels of the diffusion basins (cells are +-1, so sigma ~ 1 reaches the nearest other sequence).
#: None lies below the floor: an untrained DiT returns half its targets from sigma 0.53 (L = 24) or 0.48
#: (L = 36), and every target from much smaller noise, so smaller levels carry no information.
DEFAULT_SIGMAS = (0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.45, 1.7, 2.0, 2.5, 3.0)
#: Default numbers of changed cells of the GPT basins.
DEFAULT_FLIPS = (1, 2, 3, 4, 6, 8)
#: How flipped cells are resampled by the GPT (module docstring).
FLIP_RESAMPLING = ("prefix", "exact")
#: Most completions per target that exact resampling scores (vocab_size ** flips).
MAX_EXACT_COMPLETIONS = 2**16

#: Stream offsets that keep the random draws for targets, noise and flips independent.
_TARGET_STREAM, _NOISE_STREAM, _FLIP_STREAM = 0, 1, 2


# ----------------------------------------------------------------------------- targets
def draw_invalid(rule: Rule, count: int, generator: torch.Generator, max_rounds: int = 1000) -> torch.Tensor:
    """``count`` uniformly random sequences that break ``rule`` (rejection sampling)."""
    kept: list[torch.Tensor] = []
    found = 0
    for _ in range(max_rounds):
        if found >= count:
            break
        candidates = torch.randint(rule.vocab_size, (max(2 * (count - found), 64), rule.length), generator=generator)
        invalid = candidates[~rule.is_valid(candidates)]
        kept.append(invalid)
        found += invalid.shape[0]
    if found < count:
        raise ConfigError(
            f"rule {rule.name!r}: could not draw {count} invalid sequences; almost every sequence is valid"
        )
    return torch.cat(kept)[:count]


def basin_targets(
    rule: Rule, train_set: torch.Tensor, control_set: torch.Tensor, counts: Mapping[str, int], seed: int
) -> dict[str, torch.Tensor]:
    """The target sequences of each class: random training and control rows (without replacement) and invalid rows.

    ``counts`` gives the number per class (``train``, ``control``, ``invalid``); a class larger than
    its set is capped at the set's size, and a class with count 0 is left out.
    """
    generator = torch.Generator().manual_seed(derive_seed(seed, _TARGET_STREAM))
    targets = {}
    for name, pool in (("train", train_set), ("control", control_set)):
        if counts.get(name, 0) > 0:
            order = torch.randperm(pool.shape[0], generator=generator)
            targets[name] = pool[order[: counts[name]]].cpu()
    if counts.get("invalid", 0) > 0:
        targets["invalid"] = draw_invalid(rule, counts["invalid"], generator)
    return targets


# ----------------------------------------------------------------------------- diffusion basins
def truncated_karras_sigmas(sigma_start: float, num_steps: int, sigma_min: float, rho: float) -> torch.Tensor:
    """A Karras schedule from ``sigma_start`` down to ``sigma_min``, then 0 (``[num_steps + 1]``).

    At or below ``sigma_min`` it is the single step ``[sigma_start, 0]``, which returns D(x; sigma_start).
    """
    if sigma_start <= sigma_min:
        return torch.tensor([sigma_start, 0.0], dtype=torch.float64)
    return karras_sigmas(num_steps, sigma_min, sigma_start, rho)


def ode_returns(
    denoiser: Denoiser,
    encoding: CellEncoding,
    targets: torch.Tensor,
    noise: torch.Tensor,
    sigma_schedule: torch.Tensor,
    batch_size: int = 1024,
) -> torch.Tensor:
    """Whether each target comes back: noise it at ``sigma_schedule[0]``, run Heun to 0, decode: ``BoolTensor[T]``.

    ``targets`` are tokens ``[T, L]`` and ``noise`` standard normal cells ``[T, L, C]``, both on
    the denoiser's device.
    """
    cells = encoding.encode(targets).to(noise.dtype)
    sigma_start = float(sigma_schedule[0])
    schedule = sigma_schedule.to(noise.dtype)
    returned = []
    for chunk_cells, chunk_noise, chunk_targets in zip(
        cells.split(batch_size), noise.split(batch_size), targets.split(batch_size), strict=True
    ):
        # heun_sample starts at noise * sigmas[0]; shift by the target so it starts at c + sigma * n.
        start = chunk_cells / sigma_start + chunk_noise
        final = heun_sample(denoiser, start, schedule)
        returned.append((encoding.decode(final) == chunk_targets).all(dim=-1))
    return torch.cat(returned)


@torch.no_grad()
def denoiser_distances(
    denoiser: Denoiser, reference: Denoiser, x: torch.Tensor, sigma: float, batch_size: int = 1024
) -> torch.Tensor:
    """Per point, the mean over cells of ``(D(x; sigma) - D_ref(x; sigma))^2`` at noisy cells ``x [B, L, C]``."""
    distances = []
    for chunk in x.split(batch_size):
        sigmas = torch.full((chunk.shape[0],), sigma, dtype=chunk.dtype, device=chunk.device)
        distances.append(((denoiser(chunk, sigmas) - reference(chunk, sigmas)) ** 2).flatten(1).mean(dim=-1))
    return torch.cat(distances)


# ----------------------------------------------------------------------------- autoregressive counterpart
@torch.no_grad()
def mean_log_likelihood(gpt: GPT, sequences: torch.Tensor, batch_size: int = 1024) -> float:
    """Mean log-probability (nats) of whole ``sequences`` under the GPT."""
    total = sum(float(gpt.sequence_log_likelihood(chunk).sum()) for chunk in sequences.split(batch_size))
    return total / sequences.shape[0]


def flip_cells(
    sequences: torch.Tensor, num_flips: int, vocab_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Change ``num_flips`` distinct random cells of each row to another random symbol: ``(flipped, mask)``."""
    rows, length = sequences.shape
    positions = torch.rand(rows, length, generator=generator).argsort(dim=-1)[:, :num_flips]
    mask = torch.zeros(rows, length, dtype=torch.bool).scatter_(1, positions, True)
    offsets = torch.randint(1, vocab_size, (rows, length), generator=generator)
    flipped = torch.where(mask, (sequences.cpu() + offsets) % vocab_size, sequences.cpu())
    return flipped, mask


@torch.no_grad()
def resample_cells(
    gpt: GPT, sequences: torch.Tensor, mask: torch.Tensor, uniforms: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Resample the cells where ``mask`` is set, left to right, from ``p(x_t | x_<t)``; other cells stay fixed.

    Cell ``t`` of row ``i`` is drawn by inverting the CDF at ``uniforms[i, t]``, as in ``GPT.generate``.
    """
    current = sequences.clone()
    for position in range(current.shape[1]):
        rows = mask[:, position]
        if not bool(rows.any()):
            continue
        logits = gpt(gpt.with_bos(current[rows]))[:, position].float() / temperature
        cdf = torch.softmax(logits, dim=-1).cumsum(dim=-1)
        token = (cdf < uniforms[rows, position : position + 1]).sum(dim=-1).clamp(max=gpt.config.vocab_size - 1)
        current[rows, position] = token
    return current


@torch.no_grad()
def resample_cells_exact(
    gpt: GPT,
    sequences: torch.Tensor,
    mask: torch.Tensor,
    uniforms: torch.Tensor,
    temperature: float = 1.0,
    batch_size: int = 1024,
) -> torch.Tensor:
    """Resample the cells where ``mask`` is set jointly from the GPT's exact conditional given every other cell.

    Every row must have the same number k of masked cells. All ``K^k`` completions of a row are
    scored with the whole-sequence log-likelihood, and one is drawn from ``p^(1/temperature)``
    (normalised) by inverting the CDF at ``uniforms[i, 0]``.
    """
    rows, length = sequences.shape
    num_masked = int(mask[0].sum()) if rows else 0
    vocab_size = gpt.config.vocab_size
    codes = torch.arange(vocab_size**num_masked, device=sequences.device).unsqueeze(-1)
    place_values = vocab_size ** torch.arange(num_masked - 1, -1, -1, device=sequences.device)
    completions = (codes // place_values) % vocab_size  # [C, k]
    positions = mask.nonzero()[:, 1].view(rows, num_masked)
    chosen = []
    rows_per_chunk = max(1, batch_size // completions.shape[0])
    for start in range(0, rows, rows_per_chunk):
        chunk = sequences[start : start + rows_per_chunk]
        candidates = chunk.unsqueeze(1).repeat(1, completions.shape[0], 1)
        index = positions[start : start + rows_per_chunk].unsqueeze(1).expand(-1, completions.shape[0], -1)
        candidates.scatter_(2, index, completions.unsqueeze(0).expand(chunk.shape[0], -1, -1))
        log_likelihood = gpt.sequence_log_likelihood(candidates.view(-1, length)).view(chunk.shape[0], -1)
        cdf = torch.softmax(log_likelihood / temperature, dim=-1).cumsum(dim=-1)
        pick = (cdf < uniforms[start : start + rows_per_chunk, :1]).sum(dim=-1).clamp(max=completions.shape[0] - 1)
        chosen.append(candidates[torch.arange(chunk.shape[0], device=chunk.device), pick])
    return torch.cat(chosen) if chosen else sequences.clone()


# ----------------------------------------------------------------------------- one run's probe
class BasinProbe:
    """Fixed targets, noise and reference denoisers, measured on one run's model at many steps."""

    def __init__(
        self,
        rule: Rule,
        train_set: torch.Tensor,
        control_set: torch.Tensor,
        sigmas: Sequence[float],
        flips: Sequence[int],
        counts: Mapping[str, int],
        seed: int = 0,
        return_threshold: float = 0.5,
        batch_size: int = 1024,
        chunk_size: int = 4096,
        max_enumerated: int = 100_000,
        flip_resampling: str = "prefix",
    ) -> None:
        """
        Args:
            rule: the run's rule.
            train_set: the training sequences (the empirical-optimal denoiser mixes all of them).
            control_set: held-out valid sequences.
            sigmas: noise levels of the diffusion basins.
            flips: numbers of changed cells of the GPT basins.
            counts: targets per class (``train``, ``control``, ``invalid``).
            seed: seed of every random draw of the probe.
            return_threshold: a class has a basin at a noise level where its return rate is at least this.
            batch_size: targets integrated (or resampled) at once.
            chunk_size: training points per chunk of the empirical-optimal denoiser.
            max_enumerated: largest valid set enumerated for the population denoiser.
            flip_resampling: ``prefix`` (each flipped cell from ``p(x_t | x_<t)``, left to right) or ``exact``
                (all flipped cells jointly from the exact conditional, ``K^k`` likelihoods per target).
        """
        if not sigmas or any(not sigma > 0 for sigma in sigmas):
            raise ConfigError(f"basins.sigmas={list(sigmas)} is invalid: give one or more noise levels > 0")
        if not flips or any(not 1 <= k <= rule.length for k in flips):
            raise ConfigError(
                f"basins.flips={list(flips)} is invalid: give one or more cell counts in 1..{rule.length}"
            )
        if flip_resampling not in FLIP_RESAMPLING:
            raise ConfigError(
                f"basins.flip_resampling={flip_resampling!r} is invalid; allowed: {list(FLIP_RESAMPLING)}"
            )
        if flip_resampling == "exact" and rule.vocab_size ** max(flips) > MAX_EXACT_COMPLETIONS:
            raise ConfigError(
                f"basins.flips={list(flips)} with basins.flip_resampling='exact' needs {rule.vocab_size}^{max(flips)} "
                f"likelihoods per target; allowed: vocab_size^flips <= {MAX_EXACT_COMPLETIONS} (or use 'prefix')"
            )
        if not 0 < return_threshold <= 1:
            raise ConfigError(f"basins.return_threshold={return_threshold} is invalid: it must lie in (0, 1]")
        self.rule = rule
        self.train_set = train_set.cpu()
        self.sigmas = sorted(float(sigma) for sigma in sigmas)
        self.flips = sorted(int(k) for k in flips)
        self.seed = seed
        self.return_threshold = return_threshold
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.max_enumerated = max_enumerated
        self.flip_resampling = flip_resampling
        self.targets = basin_targets(rule, train_set.cpu(), control_set.cpu(), counts, seed)
        self._references: dict[str, tuple[Denoiser, Denoiser | None]] = {}
        #: Return outcomes ``[reference][class] -> BoolTensor[sigmas, T]`` of the reference denoisers (computed once).
        self.reference_returns: dict[str, dict[str, torch.Tensor]] | None = None

    def references(self, encoding: CellEncoding) -> tuple[Denoiser, Denoiser | None]:
        """The empirical-optimal and (if available) population denoisers for ``encoding`` (built once)."""
        if encoding.name not in self._references:
            empirical = EmpiricalDenoiser(encoding.encode(self.train_set), self.chunk_size)
            population = population_denoiser(self.rule, encoding, self.max_enumerated, self.chunk_size)
            self._references[encoding.name] = (empirical, population)
        return self._references[encoding.name]

    def noise(self, name: str, channels: int) -> torch.Tensor:
        """The standard normal noise of class ``name`` (``[T, L, channels]``), the same at every evaluation."""
        generator = torch.Generator().manual_seed(derive_seed(self.seed, _NOISE_STREAM, TARGET_CLASSES.index(name)))
        return torch.randn(self.targets[name].shape[0], self.rule.length, channels, generator=generator)

    def _class_points(
        self, encoding: CellEncoding, device: torch.device | str
    ) -> tuple[list[str], list[int], torch.Tensor, torch.Tensor]:
        """Every class's targets and noise, concatenated in class order: ``(names, sizes, targets, noise)``."""
        names = list(self.targets)
        sizes = [self.targets[name].shape[0] for name in names]
        targets = torch.cat([self.targets[name] for name in names]).to(device)
        noise = torch.cat([self.noise(name, encoding.channels) for name in names]).to(device)
        return names, sizes, targets, noise

    def _return_outcomes(
        self,
        denoiser: Denoiser,
        encoding: CellEncoding,
        schedules: Sequence[torch.Tensor],
        device: torch.device | str,
    ) -> dict[str, torch.Tensor]:
        """Per class, whether each target returns at each sigma under ``denoiser``: ``BoolTensor[sigmas, T]`` (CPU)."""
        names, sizes, targets, noise = self._class_points(encoding, device)
        returned = torch.stack(
            [ode_returns(denoiser, encoding, targets, noise, schedule, self.batch_size).cpu() for schedule in schedules]
        )
        return dict(zip(names, returned.split(sizes, dim=1), strict=True))

    def fits_references(self, outcomes: Mapping[str, Mapping[str, torch.Tensor]] | None) -> bool:
        """Whether ``outcomes`` (e.g. restored from a checkpoint) have one row per sigma and one column per target
        of each class of this probe."""
        return outcomes is not None and all(
            name in self.targets and tuple(value.shape) == (len(self.sigmas), self.targets[name].shape[0])
            for by_class in outcomes.values()
            for name, value in by_class.items()
        )

    def reference_outcomes(
        self,
        encoding: CellEncoding,
        schedules: Sequence[torch.Tensor],
        sigma_data: float,
        device: torch.device | str = "cpu",
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Return outcomes of the floor, population (when the rule has one) and memorizer denoisers, per class.

        They depend only on the targets, noise, rule and training set, not on a model's weights: computed at
        the first call and kept in :attr:`reference_returns` (which a resumed BasinCallback restores).
        """
        if self.reference_returns is None:
            empirical, population = self.references(encoding)
            denoisers: dict[str, Denoiser | None] = {
                "floor": FloorDenoiser(sigma_data),
                "population": population,
                "memorizer": empirical,
            }
            self.reference_returns = {
                name: self._return_outcomes(reference, encoding, schedules, device)
                for name, reference in denoisers.items()
                if reference is not None
            }
        return self.reference_returns

    @torch.no_grad()
    def measure_diffusion(
        self,
        step: int,
        denoiser: Denoiser,
        encoding: CellEncoding,
        sampler_steps: int,
        sigma_min: float,
        rho: float,
        device: torch.device | str = "cpu",
        sigma_data: float = 0.5,
    ) -> list[dict[str, object]]:
        """Return rates, basin radii, reference radii and denoiser distances of ``denoiser`` for every class and sigma.

        All classes are integrated together, one ODE batch per sigma. ``sigma_data`` is the model's EDM
        data standard deviation, used by the floor reference (D = c_skip x).
        """
        empirical, population = self.references(encoding)
        names, sizes, targets, noise = self._class_points(encoding, device)
        cells = encoding.encode(targets)
        schedules = [truncated_karras_sigmas(sigma, sampler_steps, sigma_min, rho) for sigma in self.sigmas]
        learned = self._return_outcomes(denoiser, encoding, schedules, device)
        references = self.reference_outcomes(encoding, schedules, sigma_data, device)
        calibration = calibration_columns(
            self.sigmas,
            {name: outcomes.numpy() for name, outcomes in learned.items()},
            {
                reference: {name: value.numpy() for name, value in by_class.items()}
                for reference, by_class in references.items()
            },
            self.return_threshold,
            self.seed,
        )
        rows_by_class: dict[str, list[dict[str, object]]] = {name: [] for name in names}
        for index, sigma in enumerate(self.sigmas):
            noisy = cells + sigma * noise
            distances = {"distance_empirical": denoiser_distances(denoiser, empirical, noisy, sigma, self.batch_size)}
            if population is not None:
                distances["distance_population"] = denoiser_distances(
                    denoiser, population, noisy, sigma, self.batch_size
                )
            for position, name in enumerate(names):
                row: dict[str, object] = {
                    "step": step,
                    "target_class": name,
                    "sigma": sigma,
                    "return_rate": float(learned[name][index].float().mean()),
                }
                for column, values in distances.items():
                    row[column] = float(values.split(sizes)[position].mean())
                rows_by_class[name].append(row)
        return [
            {**row, **calibration[name]} for name in names for row in self._with_radius(rows_by_class[name], "sigma")
        ]

    @torch.no_grad()
    def measure_autoregressive(
        self, step: int, gpt: GPT, temperature: float = 1.0, device: torch.device | str = "cpu"
    ) -> list[dict[str, object]]:
        """Mean log-likelihood and bit-flip return rates of ``gpt`` for every class and number of flips.

        All classes are resampled together, one batch per number of flips.
        """
        names = list(self.targets)
        sizes = [self.targets[name].shape[0] for name in names]
        tokens = torch.cat([self.targets[name] for name in names])
        targets = tokens.to(device)
        log_likelihoods = {
            name: mean_log_likelihood(gpt, self.targets[name].to(device), self.batch_size) for name in names
        }
        rows_by_class: dict[str, list[dict[str, object]]] = {name: [] for name in names}
        for num_flips in self.flips:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, _FLIP_STREAM, num_flips))
            flipped, mask = flip_cells(tokens, num_flips, self.rule.vocab_size, generator)
            uniforms = torch.rand(tokens.shape, generator=generator)
            flipped, mask, uniforms = flipped.to(device), mask.to(device), uniforms.to(device)
            if self.flip_resampling == "exact":
                resampled = resample_cells_exact(gpt, flipped, mask, uniforms, temperature, self.batch_size)
            else:
                resampled = torch.cat(
                    [
                        resample_cells(gpt, *chunk, temperature)
                        for chunk in zip(
                            flipped.split(self.batch_size),
                            mask.split(self.batch_size),
                            uniforms.split(self.batch_size),
                            strict=True,
                        )
                    ]
                )
            returned = (resampled == targets).all(dim=-1).float()
            for name, rates in zip(names, returned.split(sizes), strict=True):
                rows_by_class[name].append(
                    {
                        "step": step,
                        "target_class": name,
                        "flips": num_flips,
                        "return_rate": float(rates.mean()),
                        "log_likelihood": log_likelihoods[name],
                    }
                )
        return [row for name in names for row in self._with_radius(rows_by_class[name], "flips")]

    def _with_radius(self, class_rows: list[dict[str, object]], level: str) -> list[dict[str, object]]:
        """The rows of one class, each with the class's basin radius over ``level``."""
        radius = basin_radius(
            [float(row[level]) for row in class_rows],
            [float(row["return_rate"]) for row in class_rows],
            self.return_threshold,
        )
        return [{**row, "basin_radius": radius} for row in class_rows]


def summary_metrics(rows: Sequence[Mapping[str, object]]) -> dict[str, float]:
    """Scalars for loggers from one evaluation's rows: ``radius/<class>``, ``<reference>_radius/<class>``,
    ``expansion/<class>``, ``dominance*/train``, per-level rates and distances (the BasinCallback logs them under
    ``basins/``)."""
    metrics: dict[str, float] = {}
    log_likelihoods: dict[str, float] = {}
    for row in rows:
        name = str(row["target_class"])
        level = f"sigma_{row['sigma']:g}" if "sigma" in row else f"flips_{row['flips']}"
        for column in ("basin_radius", "floor_radius", "population_radius", "memorizer_radius"):
            if row.get(column) is not None:
                metrics[f"{column.removeprefix('basin_')}/{name}"] = float(row[column])
        for column in ("expansion", "dominance", "dominance_low", "dominance_high"):
            if row.get(column) is not None:
                metrics[f"{column}/{name}"] = float(row[column])
        metrics[f"return_rate/{name}/{level}"] = float(row["return_rate"])
        for column in ("distance_empirical", "distance_population"):
            if row.get(column) is not None:
                metrics[f"{column}/{name}/{level}"] = float(row[column])
        if "log_likelihood" in row:
            log_likelihoods[name] = float(row["log_likelihood"])
    for name, value in log_likelihoods.items():
        metrics[f"log_likelihood/{name}"] = value
    if "train" in log_likelihoods and "control" in log_likelihoods:
        metrics["log_likelihood_gap"] = log_likelihoods["train"] - log_likelihoods["control"]
    return metrics
