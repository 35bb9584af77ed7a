"""Convolutional autoencoder: the reconstruction baseline; its encoder also serves VAE and VAE-GAN."""

from __future__ import annotations

import torch
from torch import nn

from gig_core.models.dcgan import DCGANGenerator, num_upsamplings


class ConvEncoder(nn.Module):
    """(B, 3, R, R) -> (B, out_dim): strided convs with batch norm down to 4x4, then a linear map."""

    def __init__(self, channels: int, resolution: int, out_dim: int):
        super().__init__()
        n = num_upsamplings(resolution)
        widths = [3] + [channels * 2**i for i in range(n)]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [
                nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(widths[-1] * 16, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_autoencoder(z_dim: int, channels: int, resolution: int) -> dict[str, nn.Module]:
    """Deterministic encoder to a z_dim code; the decoder ("generator") is a DCGAN generator."""
    return {
        "generator": DCGANGenerator(z_dim, channels, resolution),
        "encoder": ConvEncoder(channels, resolution, z_dim),
    }
