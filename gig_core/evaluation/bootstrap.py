"""Bootstrap confidence intervals for two-sample statistics (FID here, KID in its module) and
for the difference of two models' FIDs (promotion).

FID is biased upwards at finite sample sizes, and resampling with replacement (duplicates
shrink the effective sample) adds more of the same bias. The *basic* bootstrap interval,
(2t - q_hi, 2t - q_lo), reflects the resampled distribution around the estimate t and so
corrects for that bias: two samples of one distribution get an interval that covers 0, while
the raw estimate sits above it. The interval is for the population value, not the estimate;
its point estimate is the bias-corrected 2t - mean(draws), which is what is printed with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch

Statistic = Callable[[torch.Tensor, torch.Tensor], float]  # (real (N, F), fake (M, F)) -> value


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Hundreds of small (F x F) matrix ops: thread wake-ups cost more than they give (8x here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _resample(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(n, (n,), generator=generator)


def percentile_interval(draws: list[float], confidence: float) -> tuple[float, float]:
    q = torch.tensor(draws, dtype=torch.float64)
    tail = (1 - confidence) / 2
    return torch.quantile(q, tail).item(), torch.quantile(q, 1 - tail).item()


def basic_interval(estimate: float, draws: list[float], confidence: float) -> tuple[float, float]:
    """(2t - q_hi, 2t - q_lo): the percentile interval reflected around the estimate."""
    lo, hi = percentile_interval(draws, confidence)
    return 2 * estimate - hi, 2 * estimate - lo


def bootstrap_interval(statistic: Statistic, real: torch.Tensor, fake: torch.Tensor, draws: int,
                       confidence: float, seed: int = 0) -> tuple[float, float, float]:
    """(bias-corrected estimate, lo, hi): basic bootstrap interval of statistic(real, fake), both sides resampled."""
    generator = torch.Generator().manual_seed(seed)
    estimate = statistic(real, fake)
    values = [statistic(real[_resample(len(real), generator)], fake[_resample(len(fake), generator)])
              for _ in range(draws)]
    lo, hi = basic_interval(estimate, values, confidence)
    return 2 * estimate - sum(values) / len(values), lo, hi


def paired_difference_interval(statistic: Statistic, real: torch.Tensor, fake_a: torch.Tensor, fake_b: torch.Tensor,
                               draws: int, confidence: float, seed: int = 0) -> tuple[float, float, float]:
    """(estimate, lo, hi) of statistic(real, fake_a) - statistic(real, fake_b).

    Each draw resamples the shared real set once for both models, so the reference set's own
    noise cancels out of the difference and only the models' noise is left.
    """
    generator = torch.Generator().manual_seed(seed)
    estimate = statistic(real, fake_a) - statistic(real, fake_b)
    values = []
    for _ in range(draws):
        r = real[_resample(len(real), generator)]
        values.append(statistic(r, fake_a[_resample(len(fake_a), generator)])
                      - statistic(r, fake_b[_resample(len(fake_b), generator)]))
    lo, hi = basic_interval(estimate, values, confidence)
    return estimate, lo, hi
