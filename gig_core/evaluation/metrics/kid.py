"""Kernel Inception Distance (torchmetrics' cubic polynomial kernel): mean and standard deviation
over random subsets, as usually reported, plus a bootstrap confidence interval.

The bootstrap draws with replacement; a sample drawn twice would pair with itself and inflate
the within-set kernel terms, so such pairs are left out of each draw's unbiased estimate, and
the plain percentile interval is used (no bias correction needed)."""

from __future__ import annotations

import torch
from torchmetrics.image.kid import poly_kernel, poly_mmd

from gig_core.evaluation.bootstrap import percentile_interval, single_thread
from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics.result import MetricResult

SUBSETS = 100


def kernel_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Unbiased squared MMD; both sides cut to the smaller size (the estimator assumes equal sizes)."""
    m = min(len(real), len(fake))
    return float(poly_mmd(real[:m].double(), fake[:m].double()))


def kid_subsets(real: torch.Tensor, fake: torch.Tensor, subset_size: int, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of KID over SUBSETS random subsets of `subset_size` (capped at the sample sizes)."""
    size = min(subset_size, len(real), len(fake))
    generator = torch.Generator().manual_seed(seed)
    values = torch.tensor([
        kernel_distance(real[torch.randperm(len(real), generator=generator)[:size]],
                        fake[torch.randperm(len(fake), generator=generator)[:size]])
        for _ in range(SUBSETS)
    ])
    return float(values.mean()), float(values.std(unbiased=False))


def _within(kernel: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Per draw, the mean kernel value over pairs of distinct original samples.

    counts: (D, n) how often each sample was drawn. Pairs of one original with itself (its
    diagonal entry, and the copies a repeated draw makes) are left out of sum and count.
    """
    pairs = (counts @ kernel * counts).sum(1) - (counts.square() * kernel.diagonal()).sum(1)  # (D,)
    return pairs / (counts.sum(1).square() - counts.square().sum(1))


def kid_interval(
    real: torch.Tensor, fake: torch.Tensor, draws: int, confidence: float, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the unbiased MMD over bootstrap draws, as count-weighted kernel sums
    (no (n, n) copies per draw: a few matrix products for all draws at once)."""
    real, fake = real.double(), fake.double()
    k_rr, k_ff, k_rf = poly_kernel(real, real), poly_kernel(fake, fake), poly_kernel(real, fake)  # computed once
    generator = torch.Generator().manual_seed(seed)
    n, m = len(real), len(fake)
    w_r = torch.zeros(draws, n, dtype=torch.float64).scatter_add_(  # (D, n) draw counts
        1, torch.randint(n, (draws, n), generator=generator), torch.ones(draws, n, dtype=torch.float64)
    )
    w_f = torch.zeros(draws, m, dtype=torch.float64).scatter_add_(
        1, torch.randint(m, (draws, m), generator=generator), torch.ones(draws, m, dtype=torch.float64)
    )
    cross = (w_r @ k_rf * w_f).sum(1) / (n * m)  # (D,)
    values = _within(k_rr, w_r) + _within(k_ff, w_f) - 2 * cross
    return percentile_interval(values.tolist(), confidence)


def compute(inputs: EvaluationInputs) -> MetricResult:
    """KID, its interval cut at 0 (a squared distance; the unbiased estimate dips below 0 by chance when the
    two sides cannot be told apart), and the real photos' own floor (held-out against training photos)."""
    cfg = inputs.config
    with single_thread():
        mean, std = kid_subsets(inputs.real, inputs.fake, cfg.kid_subset_size, cfg.seed)
        lo, hi = kid_interval(inputs.real, inputs.fake, cfg.bootstrap_draws, cfg.confidence, cfg.seed)
        values = {"kid_mean": mean, "kid_std": std, "kid_ci_low": max(0.0, lo), "kid_ci_high": max(0.0, hi)}
        if inputs.floor is not None:
            # the unbiased estimate dips below 0 for two samples of one distribution; a floor is read as a distance
            values["kid_floor"] = max(0.0, kid_subsets(inputs.real, inputs.floor, cfg.kid_subset_size, cfg.seed)[0])
    return MetricResult(values)
