"""Metric math on feature matrices. FID and KID come from torchmetrics.

Features are extracted once (see features.py) and fed to torchmetrics through a pass-through
module, so the same real-image features serve FID, KID and diversity.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance


class PrecomputedFeatures(nn.Module):
    """Lets torchmetrics consume (N, F) features we already extracted."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to (N, F) real and (M, F) fake features."""
    metric = FrechetInceptionDistance(feature=PrecomputedFeatures(real.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, subset_size: int, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (mean, std over random subsets)."""
    subset_size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():
        # It warns that it buffers all features; ours are (N, F) with N in the thousands at most.
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=PrecomputedFeatures(real.shape[1]), subset_size=subset_size)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def diversity(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Mean pairwise feature distance of the fakes over that of the real images.

    About 1 means real-like variety; near 0 means mode collapse (everything looks the same).
    """
    return float(torch.pdist(fake.float()).mean() / torch.pdist(real.float()).mean())
