"""Reconstruction error of the autoencoding families (autoencoder, vae, vaegan)."""

from __future__ import annotations

import torch
from torch import nn

from gig_core.models.vae import encode
from gig_core.sampling import to_float


@torch.no_grad()
def reconstruction_mse(parts: dict[str, nn.Module], images: torch.Tensor, variational: bool) -> float:
    """Mean squared error of decode(encode(x)) in [-1, 1] pixels over (N, 3, R, R) uint8 images.

    A variational encoder is decoded at its mean, so the figure has no sampling noise.
    """
    for part in parts.values():
        part.eval()
    x = to_float(images)
    code = encode(parts["encoder"], x)[0] if variational else parts["encoder"](x)
    return float((parts["generator"](code) - x).pow(2).mean())
