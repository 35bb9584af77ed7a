"""The classifier two-sample test (C2ST, Lopez-Paz & Oquab 2017): a trained real-vs-generated detector.

A small CNN learns to tell held-out real photos from a model's samples on one half of each, and is
tested on the other half. Its test accuracy says how easy the samples are to spot: 0.5 means nothing
trained here can tell them apart, 1.0 that they are trivially fake. Unlike a feature-space distance it
sees pixels: blur, smears, checkerboards, colour noise. Both sides are what a shopper sees: the
post-processed image on the catalog's portrait canvas at DISPLAY_SIZE (postprocess.py says why
that size).

The detector (models/detector.py) is saved with the evaluation and registered with the model: its P(real)
of an image is the realism score that generate, serve and the gallery rank samples by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from gig_core.models.detector import RealnessDetector

BATCH = 64


def halves(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random split of range(n) into (train, test) halves."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[: n // 2], order[n // 2:]


def fit_detector(real: torch.Tensor, fake: torch.Tensor, epochs: int, seed: int = 0,
                 progress: bool = True) -> RealnessDetector:
    """Train on (n, 3, H, W) uint8 real and (m, 3, H, W) uint8 generated images, balanced per batch, with
    horizontal flips (products are photographed upright, so nothing else)."""
    torch.manual_seed(seed)
    detector = RealnessDetector().train()
    optimizer = torch.optim.Adam(detector.parameters(), lr=1e-3, weight_decay=1e-4)
    steps = max(1, epochs * (len(real) + len(fake)) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    rng = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(steps), desc="evaluate: training the real-vs-generated detector (C2ST)", unit="step",
                  disable=not progress):
        r = real[torch.randint(len(real), (BATCH // 2,), generator=rng)]
        f = fake[torch.randint(len(fake), (BATCH // 2,), generator=rng)]
        images = torch.cat([r, f])  # (B, 3, H, W) uint8
        flip = torch.rand(len(images), generator=rng) < 0.5
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        target = torch.cat([torch.ones(len(r)), torch.zeros(len(f))])
        loss = F.binary_cross_entropy_with_logits(detector(images), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return detector.eval()


def wilson_interval(hits: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion: stays inside [0, 1], sensible at accuracy near 1."""
    if n == 0:
        return float("nan"), float("nan")
    z = torch.distributions.Normal(0, 1).icdf(torch.tensor(0.5 + confidence / 2)).item()
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class TwoSampleTest:
    accuracy: float
    low: float
    high: float
    tested: int  # test images, real and generated together
    correct_real: torch.Tensor  # (n_test_real,) bool
    correct_fake: torch.Tensor  # (n_test_fake,) bool
    real_test: torch.Tensor  # indices into the real images
    fake_test: torch.Tensor  # indices into the generated images
    fake_scores: torch.Tensor  # (M,) P(real) of every sample (out of sample for fake_test)
    detector: RealnessDetector


def two_sample_test(real: torch.Tensor, fake: torch.Tensor, epochs: int, confidence: float, seed: int = 0,
                    progress: bool = True) -> TwoSampleTest:
    """Train on one half of each side, test on the other; accuracy over both test halves."""
    if min(len(real), len(fake)) < 4:
        raise ValueError(f"C2ST needs at least 4 images a side, got {len(real)} real and {len(fake)} generated")
    real_train, real_test = halves(len(real), seed)
    fake_train, fake_test = halves(len(fake), seed + 1)
    detector = fit_detector(real[real_train], fake[fake_train], epochs, seed, progress)
    real_scores = detector.realism(real[real_test])
    fake_scores = detector.realism(fake)
    correct_real, correct_fake = real_scores >= 0.5, fake_scores[fake_test] < 0.5
    hits, tested = int(correct_real.sum() + correct_fake.sum()), len(real_test) + len(fake_test)
    low, high = wilson_interval(hits, tested, confidence)
    return TwoSampleTest(hits / tested, low, high, tested, correct_real, correct_fake, real_test, fake_test,
                         fake_scores, detector)


def accuracy_change_interval(a: float, n_a: int, b: float, n_b: int, confidence: float) -> tuple[float, float]:
    """Interval of accuracy a - b from two independent tests of n_a and n_b images: Agresti-Caffo (one hit and
    one miss added to each side), which stays honest when both accuracies are near 1."""
    z = torch.distributions.Normal(0, 1).icdf(torch.tensor(0.5 + confidence / 2)).item()
    pa, pb = (a * n_a + 1) / (n_a + 2), (b * n_b + 1) / (n_b + 2)
    half = z * math.sqrt(pa * (1 - pa) / (n_a + 2) + pb * (1 - pb) / (n_b + 2))
    return pa - pb - half, pa - pb + half
