"""Frechet distance between Gaussians fitted to real and generated features (torchmetrics'
formula), with a bootstrap confidence interval."""

from __future__ import annotations

import torch
from torchmetrics.image.fid import _compute_fid

from gig_core.evaluation.bootstrap import bootstrap_interval, single_thread
from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics.result import MetricResult


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """(N, F), (M, F) features -> FID, in float64."""
    real, fake = real.double(), fake.double()
    return float(_compute_fid(real.mean(0), torch.cov(real.T), fake.mean(0), torch.cov(fake.T)))


def compute(inputs: EvaluationInputs) -> MetricResult:
    cfg = inputs.config
    with single_thread():
        value = frechet_distance(inputs.real, inputs.fake)
        corrected, lo, hi = bootstrap_interval(
            frechet_distance, inputs.real, inputs.fake, cfg.bootstrap_draws, cfg.confidence, cfg.seed
        )
    # The interval belongs to the bias-corrected value (bootstrap.py); print them together.
    return MetricResult({"fid": value, "fid_bias_corrected": corrected, "fid_ci_low": lo, "fid_ci_high": hi})
