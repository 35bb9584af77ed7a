"""Memorization: is the generator handing back catalog photos?

For each sample, the distance to its nearest training image in feature space. A sample is a
copy when that distance is below `memorization_ratio` times the typical real-to-real
nearest-neighbour distance (median over held-out images of their nearest training image).
The generator is flagged when more than `memorization_max_share` of its samples are copies.
The closest (sample, training image) pairs go to the report, side by side.
"""

from __future__ import annotations

import torch

from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics.result import MetricResult

PAIRS_SHOWN = 8


def nearest(queries: torch.Tensor, pool: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q, F), (P, F) -> (distance, index) of each query's nearest pool point, (Q,) each."""
    dists, index = [], []
    for start in range(0, len(queries), chunk):
        d = torch.cdist(queries[start:start + chunk].float(), pool.float())  # (chunk, P)
        best = d.min(dim=1)
        dists.append(best.values), index.append(best.indices)
    return torch.cat(dists), torch.cat(index)


def compute(inputs: EvaluationInputs) -> MetricResult:
    cfg = inputs.config
    fake_d, fake_nn = nearest(inputs.fake, inputs.train)  # (M,)
    real_d, _ = nearest(inputs.real, inputs.train)  # (N,)
    threshold = cfg.memorization_ratio * float(real_d.median())
    share = float((fake_d < threshold).float().mean())
    order = fake_d.argsort()[:PAIRS_SHOWN]
    return MetricResult(
        {"memorized_share": share, "memorized_share_real": float((real_d < threshold).float().mean()),
         "memorization_threshold": threshold, "memorization_flag": float(share > cfg.memorization_max_share)},
        {"closest_pairs": [(int(i), int(fake_nn[i]), float(fake_d[i])) for i in order]},
    )
