"""Improved precision/recall (Kynkaanniemi et al. 2019, torch-fidelity's implementation) and
density/coverage (Naeem et al. 2020), from k-nearest-neighbour balls in feature space.

Precision: share of samples inside the real manifold (quality). Recall: share of real images
inside the samples' manifold (variety). Density and coverage are their outlier-robust
variants: density counts how many real balls each sample falls in (about 1 for real-like
samples), coverage the share of real balls that hold at least one sample.
"""

from __future__ import annotations

import torch
from torch_fidelity.metric_prc import calculate_precision_recall_full

from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics.result import MetricResult


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """(N, F) -> (N,) distance of each point to its k-th nearest other point."""
    return torch.cdist(features, features).kthvalue(k + 1, dim=1).values


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    radii = knn_radii(real, k)  # (N,)
    inside = torch.cdist(fake, real) <= radii[None, :]  # (M, N): sample j in real ball i
    density = inside.float().sum() / (k * len(fake))
    coverage = inside.any(dim=0).float().mean()
    return float(density), float(coverage)


def compute(inputs: EvaluationInputs) -> MetricResult:
    real, fake = inputs.real.float(), inputs.fake.float()
    k = min(inputs.config.pr_neighbours, len(real) - 1, len(fake) - 1)
    precision, recall = calculate_precision_recall_full(fake, real, neighborhood=k)
    density, coverage = density_coverage(real, fake, min(inputs.config.dc_neighbours, len(real) - 1))
    return MetricResult({"precision": precision, "recall": recall, "density": density, "coverage": coverage})
