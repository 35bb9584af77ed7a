"""GAN losses in one place, as (discriminator loss, generator loss) pairs over logits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class GanLoss:
    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (real logits, fake logits) -> scalar
    generator: Callable[[torch.Tensor], torch.Tensor]  # fake logits -> scalar


LOSSES: dict[str, GanLoss] = {
    # Goodfellow et al. 2014, with the non-saturating generator loss.
    "non_saturating": GanLoss(
        discriminator=lambda real, fake: F.softplus(-real).mean() + F.softplus(fake).mean(),
        generator=lambda fake: F.softplus(-fake).mean(),
    ),
    # Lim & Ye 2017; the usual pairing with spectral norm and projection discriminators.
    "hinge": GanLoss(
        discriminator=lambda real, fake: F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean(),
        generator=lambda fake: -fake.mean(),
    ),
}
