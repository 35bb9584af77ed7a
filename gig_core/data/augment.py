"""Training-time augmentation of uint8 image batches with torchvision transforms.

Each image gets its own random draw (torchvision's v2 transforms draw once per call, so
they are applied per image). Rotation and scale fill with white, the catalog background.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from gig_core.config import AugmentConfig


def build_augment(config: AugmentConfig) -> v2.Transform | None:
    """A per-image transform for (3, H, W) uint8 tensors, or None when everything is off."""
    steps: list[v2.Transform] = []
    if config.hflip:
        steps.append(v2.RandomHorizontalFlip())
    if config.rotation_degrees or config.scale_jitter:
        s = config.scale_jitter
        steps.append(v2.RandomAffine(degrees=config.rotation_degrees, scale=(1 - s, 1 + s), fill=255))
    if config.brightness or config.contrast:
        steps.append(v2.ColorJitter(brightness=config.brightness, contrast=config.contrast))
    return v2.Compose(steps) if steps else None


def augment_batch(images: torch.Tensor, transform: v2.Transform | None) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> (B, 3, H, W) uint8, one random draw per image."""
    if transform is None:
        return images
    return torch.stack([transform(image) for image in images])
