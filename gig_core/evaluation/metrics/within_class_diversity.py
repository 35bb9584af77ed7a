"""Within-class diversity: does the generator vary *inside* one condition cell?

The failure this field names first is a conditional generator that draws one image per class
and ignores its noise. Across classes its samples still differ, so overall spread, FID and
precision can all look fine. Here every condition cell (articleType x baseColour, ...) is
scored on its own: `cell_samples` images that differ only in z against the cell's real
photos (see cells.py).

Per cell:
- feature ratio: mean pairwise feature distance of the samples over that of the real photos;
- pixel ratio: the same on 16x16 thumbnails, so a weak feature extractor cannot hide collapse
  (and thumbnails keep speckle noise from passing for variety);
- diversity: the smaller of the two (about 1 is real-like, near 0 is one image per cell);
- recall and coverage of the cell's real photos by its samples (k-NN manifolds).

Headlines: `within_class_diversity` (mean over cells) and `within_class_diversity_worst` (its
worst cell, named in `within_class_diversity_worst_cell`). `z_sensitivity` is the share of the
samples' pixel spread that z alone produces (within-cell spread over the spread of all
samples), next to the same share for real photos (`z_sensitivity_real`): a generator that
ignores z scores 0 whatever its classes look like.
"""

from __future__ import annotations

import torch
from torch_fidelity.metric_prc import calculate_precision_recall_full

from gig_core.diversity import pixel_spread, spread, thumbnails
from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics.precision_recall import density_coverage
from gig_core.evaluation.metrics.result import MetricResult


def cell_scores(real_features: torch.Tensor, fake_features: torch.Tensor, real_images: torch.Tensor,
                fake_images: torch.Tensor, pr_neighbours: int, dc_neighbours: int) -> dict[str, float] | None:
    """The per-cell figures, or None when the cell's real photos do not vary at all (no ratio exists)."""
    real_feature, real_pixel = spread(real_features), pixel_spread(real_images)
    if not real_feature > 0 or not real_pixel > 0:
        return None
    feature = spread(fake_features) / real_feature
    pixel = pixel_spread(fake_images) / real_pixel
    real, fake = real_features.float(), fake_features.float()
    _, recall = calculate_precision_recall_full(
        fake, real, neighborhood=min(pr_neighbours, len(real) - 1, len(fake) - 1)
    )
    _, coverage = density_coverage(real, fake, min(dc_neighbours, len(real) - 1))
    return {
        "diversity": min(feature, pixel),
        "feature": feature,
        "pixel": pixel,
        "recall": float(recall),
        "coverage": coverage,
        "real": len(real_images),
        "samples": len(fake_images),
    }


def share_from_z(groups: list[torch.Tensor]) -> float:
    """Mean within-group pixel spread over the pixel spread of all groups pooled."""
    within = [pixel_spread(g) for g in groups]
    pooled = spread(torch.cat([thumbnails(g) for g in groups]))
    return float(sum(within) / len(within) / pooled) if pooled > 0 else float("nan")


def compute(inputs: EvaluationInputs) -> MetricResult:
    cells = inputs.cells
    if cells is None:
        return MetricResult()
    if not cells.names:  # no cell has enough real photos; say so rather than report nothing
        return MetricResult({"within_class_cells": 0})
    cfg = inputs.config
    per_cell = {}
    for name, rf, ff, ri, fi in zip(
        cells.names, cells.real_features, cells.fake_features, cells.real_images, cells.fake_images
    ):
        scores = cell_scores(rf, ff, ri, fi, cfg.pr_neighbours, cfg.dc_neighbours)
        if scores is not None:
            per_cell[name] = scores
    if not per_cell:
        return MetricResult({"within_class_cells": 0})
    mean = lambda key: sum(c[key] for c in per_cell.values()) / len(per_cell)  # noqa: E731
    worst = min(per_cell, key=lambda name: per_cell[name]["diversity"])
    values = {
        "within_class_diversity": mean("diversity"),
        "within_class_diversity_worst": per_cell[worst]["diversity"],
        "within_class_diversity_worst_cell": worst,
        "within_class_diversity_feature": mean("feature"),
        "within_class_diversity_pixel": mean("pixel"),
        "cell_recall": mean("recall"),
        "cell_coverage": mean("coverage"),
        "within_class_cells": len(per_cell),
        "per_cell_diversity": {name: c["diversity"] for name, c in per_cell.items()},
    }
    if len(cells.names) > 1:
        values["z_sensitivity"] = share_from_z(cells.fake_images)
        values["z_sensitivity_real"] = share_from_z(cells.real_images)
    return MetricResult(
        values, {"cells": per_cell, "cell_images": dict(zip(cells.names, zip(cells.fake_images, cells.real_images)))}
    )
