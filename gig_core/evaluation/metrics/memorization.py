"""Memorization: is the generator handing back catalog photos?

A sample is a copy when its nearest training image (in feature space) is both
- close: nearer than `memorization_ratio` times the typical real-to-real nearest-neighbour
  distance (median over held-out images of their nearest training image), and
- singled out: nearer than `memorization_isolation` times the mean distance to its
  `memorization_neighbours` nearest training images. This is the calibrated distance of Carlini
  et al. 2023 ("Extracting Training Data from Diffusion Models"): a sample in a dense region
  (such as the catalog's many near-blank shots of tiny jewellery on white) that is about as close
  to many training photos is not a copy of any one of them; a handed-back photo is far closer to
  its source than to the source's neighbours. The mean over many neighbours keeps a photo the
  catalog holds twice (two ids, one image) a copy. On the 40k catalog at 64px it clears about a
  third of what the threshold alone flags (benchmarks/README.md, "What counts as a copy").
A blank sample (one colour, `metrics/blank.py`) is never a copy: ingest refuses blank photos,
so it has nothing to copy. Before that rule, most of what this metric flagged on the 40k catalog
was the generator's blank frames next to the one pure white photo the catalog listed as a watch.
The generator is flagged when more than `memorization_max_share` of its samples are copies.
The closest (sample, training image) pairs go to the report, side by side.
"""

from __future__ import annotations

import torch

from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics.blank import blank_mask
from gig_core.evaluation.metrics.result import MetricResult

PAIRS_SHOWN = 8


def nearest_k(
    queries: torch.Tensor, pool: torch.Tensor, k: int, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q, F), (P, F) -> distances and indices of each query's k nearest pool points, closest first, (Q, k) each."""
    k = min(k, len(pool))
    dists, index = [], []
    for start in range(0, len(queries), chunk):
        d = torch.cdist(queries[start:start + chunk].float(), pool.float())  # (chunk, P)
        best = d.topk(k, dim=1, largest=False)  # sorted ascending
        dists.append(best.values), index.append(best.indices)
    return torch.cat(dists), torch.cat(index)


def copies(neighbour_dists: torch.Tensor, threshold: float, isolation: float) -> torch.Tensor:
    """(Q, k) distances to the k nearest training images, closest first -> (Q,) bool: is each query a copy?"""
    closest = neighbour_dists[:, 0]
    return (closest < threshold) & (closest < isolation * neighbour_dists.mean(dim=1))


def compute(inputs: EvaluationInputs) -> MetricResult:
    cfg = inputs.config
    # in the catalog classifier's space: it has features of every training photo (inputs.train)
    fake = inputs.catalog_fake if inputs.catalog_fake is not None else inputs.fake  # one space: the catalog's
    real = inputs.catalog_real if inputs.catalog_real is not None else inputs.real
    fake_d, fake_nn = nearest_k(fake, inputs.train, cfg.memorization_neighbours)  # (M, k)
    real_d, _ = nearest_k(real, inputs.train, cfg.memorization_neighbours)  # (N, k)
    threshold = cfg.memorization_ratio * float(real_d[:, 0].median())
    shows_something = ~blank_mask(inputs.fake_images, cfg.min_pixel_range)  # (M,)
    fake_copies = copies(fake_d, threshold, cfg.memorization_isolation) & shows_something  # (M,)
    share = float(fake_copies.float().mean())
    shown = shows_something.nonzero().squeeze(1)
    order = shown[fake_d[shown, 0].argsort()[:PAIRS_SHOWN]]  # the closest pairs, blank frames left out
    return MetricResult(
        {"memorized_share": share,
         "memorized_share_real": float(copies(real_d, threshold, cfg.memorization_isolation).float().mean()),
         "memorization_threshold": threshold,
         "memorization_near_share": float((fake_d[:, 0] < threshold).float().mean()),
         "memorization_flag": float(share > cfg.memorization_max_share)},
        {"closest_pairs": [(int(i), int(fake_nn[i, 0]), float(fake_d[i, 0])) for i in order]},
    )
