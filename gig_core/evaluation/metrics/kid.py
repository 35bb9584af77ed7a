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


def _within(kernel: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Mean kernel value over pairs of distinct original samples among the drawn ones."""
    distinct = index[:, None] != index[None, :]  # (n, n)
    return (kernel[index][:, index] * distinct).sum() / distinct.sum()


def kid_interval(real: torch.Tensor, fake: torch.Tensor, draws: int, confidence: float, seed: int = 0) -> tuple[float, float]:
    real, fake = real.double(), fake.double()
    k_rr, k_ff, k_rf = poly_kernel(real, real), poly_kernel(fake, fake), poly_kernel(real, fake)  # computed once
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(draws):
        i = torch.randint(len(real), (len(real),), generator=generator)
        j = torch.randint(len(fake), (len(fake),), generator=generator)
        values.append(float(_within(k_rr, i) + _within(k_ff, j) - 2 * k_rf[i][:, j].mean()))
    return percentile_interval(values, confidence)


def compute(inputs: EvaluationInputs) -> MetricResult:
    cfg = inputs.config
    with single_thread():
        mean, std = kid_subsets(inputs.real, inputs.fake, cfg.kid_subset_size, cfg.seed)
        lo, hi = kid_interval(inputs.real, inputs.fake, cfg.bootstrap_draws, cfg.confidence, cfg.seed)
    return MetricResult({"kid_mean": mean, "kid_std": std, "kid_ci_low": lo, "kid_ci_high": hi})
