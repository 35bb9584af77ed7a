"""Overall spread and MS-SSIM.

`overall_spread`: mean pairwise feature distance of all samples relative to that of the real
images. Differences *between* classes count here, so a conditional model that draws one image
per class still scores near 1: it detects a generator that collapses across classes, not one
that ignores its noise. That is `within_class_diversity`'s job (within_class_diversity.py).
(Before, this figure was called `diversity` and read as "real-like" for such a model.)

`ms_ssim`: MS-SSIM (torchmetrics) between random pairs of samples asked for the same
attributes (the same condition cell), next to the same figure for real photos of one cell
(`ms_ssim_real`); lower is more varied."""

from __future__ import annotations

import torch
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

from gig_core.diversity import spread
from gig_core.evaluation.inputs import EvaluationInputs, cell_indices
from gig_core.evaluation.metrics.result import MetricResult

PAIRS = 256
# 3 scales and a 7-pixel window fit 32px images; the weights are the first three of the
# standard five, renormalised, so figures are comparable across resolutions.
BETAS = tuple(b / (0.0448 + 0.2856 + 0.3001) for b in (0.0448, 0.2856, 0.3001))
KERNEL = 7


def overall_spread(real: torch.Tensor, fake: torch.Tensor) -> float:
    return spread(fake) / spread(real)


def same_cell_ms_ssim(
    images: torch.Tensor, rows: list[dict[str, str]] | None, attributes: list[str], seed: int
) -> float:
    """Mean MS-SSIM of up to PAIRS random pairs of (N, 3, R, R) uint8 images from one condition cell."""
    generator = torch.Generator().manual_seed(seed)
    groups = cell_indices(rows, attributes) if rows else {(): torch.arange(len(images))}
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
    scores = multiscale_structural_similarity_index_measure(
        x, y, data_range=1.0, kernel_size=KERNEL, betas=BETAS, normalize="relu", reduction="none"
    )
    return float(scores.mean())


def compute(inputs: EvaluationInputs) -> MetricResult:
    attributes = list(inputs.fake_rows[0]) if inputs.fake_rows and inputs.fake_rows[0] else []
    seed = inputs.config.seed
    return MetricResult(
        {
            "overall_spread": overall_spread(inputs.real, inputs.fake),
            "ms_ssim": same_cell_ms_ssim(inputs.fake_images, inputs.fake_rows, attributes, seed),
            "ms_ssim_real": same_cell_ms_ssim(
                inputs.real_images, inputs.real_rows if attributes else None, attributes, seed
            ),
        }
    )
