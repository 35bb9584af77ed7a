"""Blank samples: how many generated images show nothing at all?

A generator half-trained on faint products (a thin silver pendant on white) sometimes draws a
frame of one colour. Ingest refuses such photos (`ingest.min_pixel_range`), so no training image
is blank; a blank sample is therefore a failed image, never a copy of a catalog photo, and the
memorization metric leaves it out. The same rule as ingest's: fewer than `min_pixel_range`
levels between the darkest and the lightest pixel in every channel.
"""

from __future__ import annotations

import torch

from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics.result import MetricResult


def blank_mask(images: torch.Tensor, min_pixel_range: int) -> torch.Tensor:
    """(M, 3, R, R) uint8 -> (M,) bool: does each image lie within min_pixel_range levels of one colour?"""
    pixels = images.flatten(2)  # (M, 3, R*R)
    spread = (pixels.amax(dim=2).int() - pixels.amin(dim=2).int()).amax(dim=1)  # (M,)
    return spread < min_pixel_range


def compute(inputs: EvaluationInputs) -> MetricResult:
    blank = blank_mask(inputs.fake_images, inputs.config.min_pixel_range)
    return MetricResult({"blank_share": float(blank.float().mean())})
