"""Training-time augmentation of uint8 image batches with torchvision transforms.

Each image gets its own random draw. The flip is done for the whole batch at once (a
per-image mask); torchvision's v2 transforms draw once per call, so the others are applied
image by image. Rotation and scale fill with white, the catalog background.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms import v2

from gig_core.config import AugmentConfig


@dataclass(frozen=True)
class Augment:
    hflip: bool
    per_image: v2.Transform | None  # applied image by image


def build_augment(config: AugmentConfig) -> Augment | None:
    """The configured augmentation for (B, 3, H, W) uint8 batches, or None when everything is off."""
    steps: list[v2.Transform] = []
    if config.rotation_degrees or config.scale_jitter:
        s = config.scale_jitter
        steps.append(v2.RandomAffine(degrees=config.rotation_degrees, scale=(1 - s, 1 + s), fill=255))
    if config.brightness or config.contrast:
        steps.append(v2.ColorJitter(brightness=config.brightness, contrast=config.contrast))
    if not steps and not config.hflip:
        return None
    return Augment(hflip=config.hflip, per_image=v2.Compose(steps) if steps else None)


def augment_batch(images: torch.Tensor, augment: Augment | None) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> (B, 3, H, W) uint8, one random draw per image."""
    if augment is None:
        return images
    if augment.hflip:
        flip = torch.rand(images.shape[0]) < 0.5  # (B,)
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    if augment.per_image is not None:
        images = torch.stack([augment.per_image(image) for image in images])
    return images
