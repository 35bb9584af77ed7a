"""Diversity: mean pairwise feature distance of the samples relative to the real images (about
1 is real-like variety, near 0 is mode collapse), and MS-SSIM (torchmetrics) between random
pairs of same-class samples, next to the same figure for real images (lower = more varied)."""

from __future__ import annotations

import torch
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

from gig_core.evaluation.inputs import EvaluationInputs, class_indices
from gig_core.evaluation.metrics.result import MetricResult

PAIRS = 256
# 3 scales and a 7-pixel window fit 32px images; the weights are the first three of the
# standard five, renormalised, so figures are comparable across resolutions.
BETAS = tuple(b / (0.0448 + 0.2856 + 0.3001) for b in (0.0448, 0.2856, 0.3001))
KERNEL = 7


def feature_diversity(real: torch.Tensor, fake: torch.Tensor) -> float:
    return float(torch.pdist(fake.float()).mean() / torch.pdist(real.float()).mean())


def same_class_ms_ssim(images: torch.Tensor, rows: list[dict[str, str]] | None, attribute: str | None, seed: int) -> float:
    """Mean MS-SSIM of up to PAIRS random pairs of (N, 3, R, R) uint8 images from one class."""
    generator = torch.Generator().manual_seed(seed)
    groups = class_indices(rows, attribute) if attribute else {"all": torch.arange(len(images))}
    groups = {k: v for k, v in groups.items() if len(v) >= 2}
    if not groups:
        return float("nan")
    sizes = torch.tensor([len(v) for v in groups.values()], dtype=torch.float64)
    picks = torch.multinomial(sizes, PAIRS, replacement=True, generator=generator)  # class of each pair
    members = list(groups.values())
    a, b = [], []
    for g in picks.tolist():
        i, j = torch.randperm(len(members[g]), generator=generator)[:2]
        a.append(members[g][i]), b.append(members[g][j])
    x, y = images[torch.stack(a)].float() / 255, images[torch.stack(b)].float() / 255  # (PAIRS, 3, R, R)
    scores = multiscale_structural_similarity_index_measure(x, y, data_range=1.0, kernel_size=KERNEL, betas=BETAS,
                                                            normalize="relu", reduction="none")
    return float(scores.mean())


def compute(inputs: EvaluationInputs) -> MetricResult:
    attribute = inputs.class_attribute
    seed = inputs.config.seed
    return MetricResult({
        "diversity": feature_diversity(inputs.real, inputs.fake),
        "ms_ssim": same_class_ms_ssim(inputs.fake_images, inputs.fake_rows, attribute, seed),
        "ms_ssim_real": same_class_ms_ssim(inputs.real_images, inputs.real_rows, attribute, seed),
    })
