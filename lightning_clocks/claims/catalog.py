"""The claims ``clocks claims`` decides: ids, the abstracts' words, the sweeps each reads, its decision rule.

The quotes are verbatim from the two abstracts (docs/claims.md gives them in full with their sources); the
decision rules are ours, fixed before any run, and implemented in :mod:`lightning_clocks.claims.verdicts`
(C1-C8) and :mod:`lightning_clocks.claims.transitive` (T1-T3).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    """One claim: its id, the abstract's words, the families it concerns, the sweeps it reads, its rule."""

    id: str
    quote: str
    families: tuple[str, ...]
    sweeps: tuple[str, ...]
    rule: str


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "C1",
        "τ_rule increases with rule complexity",
        ("gpt", "dit"),
        ("complexity",),
        "Tobit slope of log10 tau_rule on G (parity, N=ref): 95% CI > 0 reproduced, < 0 contradicted, "
        "inside +-0.1 not reproduced",
    ),
    Claim(
        "C2",
        "and decreases with model capacity",
        ("gpt", "dit"),
        ("depth", "width"),
        "Tobit slopes of log10 tau_rule per doubling of depth and of width: both 95% CIs < 0 reproduced, "
        "any > 0 contradicted, inside +-0.1 not reproduced",
    ),
    Claim(
        "C3",
        "τ_mem is approximately invariant to the rule",
        ("gpt", "dit"),
        ("complexity", "rule2"),
        "tau_mem ratio between every two rules at N=ref (N <= 1/64 of each valid set): all 95% CIs inside "
        "[1/2, 2] reproduced, one outside not reproduced",
    ),
    Claim(
        "C4",
        "and scales nearly linearly with dataset size N",
        ("gpt", "dit"),
        ("n",),
        "Tobit exponent b of tau_mem ~ N^b (N >= batch, >= 1 decade): 95% CI inside [0.7, 1.3] reproduced, "
        "outside contradicted",
    ),
    Claim(
        "C5a",
        "This window widens with increasing N",
        ("gpt", "dit"),
        ("n",),
        "slope of log10(tau_mem/tau_rule) on log10 N: 95% CI > 0 reproduced, < 0 contradicted, inside +-0.1 "
        "not reproduced",
    ),
    Claim(
        "C5b",
        "and narrows with rule complexity",
        ("gpt", "dit"),
        ("complexity",),
        "slope of log10(tau_mem/tau_rule) on G at N=ref: 95% CI < 0 reproduced, > 0 contradicted, inside +-0.1 "
        "not reproduced",
    ),
    Claim(
        "C5c",
        "and may vanish entirely when τ_rule ≥ τ_mem",
        ("gpt", "dit"),
        ("n", "complexity", "rule2", "shared"),
        "a design point where every seed crossed tau_mem with tau_rule later or never: reproduced; none: "
        "inconclusive (not reached)",
    ),
    Claim(
        "C6",
        "The same two-clock structure arises in both diffusion (DiT) and autoregressive (GPT) models, with "
        "architecture-dependent offsets",
        ("both",),
        ("shared",),
        "at one shared setting, tau_rule < tau_mem in every seed of both families and a DiT/GPT clock ratio "
        "with 95% CI excluding 1: reproduced",
    ),
    Claim(
        "C7",
        "rule-valid samples' basins expand substantially around τ_rule, while training samples' basins begin to "
        "dominate around τ_mem",
        ("dit",),
        ("basins",),
        "lightning_clocks.basins.calibration.c7_verdict on the basins runs (calibrated reference levels)",
    ),
    Claim(
        "C8",
        "these results yield a unified and predictive account",
        ("gpt", "dit"),
        ("n",),
        "Tobit fit over the smaller N predicts tau_mem at the largest N: measured (seeds pooled) inside the 95% "
        "prediction interval reproduced, outside not reproduced",
    ),
    Claim(
        "T1",
        "these models can balance between relational generalization and memorization",
        ("kernel",),
        (),
        "kernel ridge theory, task 'mid': some (alpha, ridge) on the grid has train, exception (cycle) and "
        "within-section accuracy 1: reproduced; none: not reproduced",
    ),
    Claim(
        "T2",
        "unlike for transitive inference without an exception, successful generalization is sensitive to the "
        "specific representational geometry",
        ("kernel",),
        (),
        "over alpha in [0, 0.99]: test accuracy ranges < 0.01 without exception and >= 0.1 with it: reproduced; "
        "< 0.01 with it: not reproduced",
    ),
    Claim(
        "T3",
        "these models successfully generalize according to the transitive rule, but also make the kinds of "
        "systematic mistakes predicted by our theory",
        ("lm",),
        (),
        "needs a pretrained language model from a model hub, finetuned: not run here",
    ),
)

CLAIM_IDS = tuple(claim.id for claim in CLAIMS)


def claim(claim_id: str) -> Claim:
    """The claim with this id."""
    return next(item for item in CLAIMS if item.id == claim_id)
