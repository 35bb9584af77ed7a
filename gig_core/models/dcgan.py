"""DCGAN (Radford et al. 2015): transposed-conv generator, strided-conv discriminator.

`synthesize` also takes a conditioning vector concatenated to z, which is how the conditional
GAN reuses the generator.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def num_upsamplings(resolution: int) -> int:
    """4x4 -> resolution in stride-2 steps: 32 -> 3, 64 -> 4, 128 -> 5."""
    if resolution not in (32, 64, 128):
        raise ValueError(f"resolution must be 32, 64 or 128, got {resolution}")
    return int(math.log2(resolution)) - 2


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, resolution: int, cond_dim: int = 0):
        super().__init__()
        self.z_dim, self.resolution = z_dim, resolution
        n = num_upsamplings(resolution)
        widths = [channels * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 32px, ch 32: [128, 64, 32]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim + cond_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def synthesize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, z_dim + cond_dim) -> (B, 3, R, R) in [-1, 1]."""
        out = self.net(x[:, :, None, None])
        assert out.shape[1:] == (3, self.resolution, self.resolution), out.shape
        return out

    def forward(self, z: torch.Tensor, labels: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        return self.synthesize(z)  # unconditional: labels are ignored


class DCGANDiscriminator(nn.Module):
    """Strided convs down to 4x4; `features` is shared with the projection discriminator."""

    def __init__(self, channels: int, resolution: int, spectral_norm: bool = False):
        super().__init__()
        n = num_upsamplings(resolution)
        wrap = nn.utils.spectral_norm if spectral_norm else (lambda m: m)
        widths = [channels * 2**i for i in range(n)]  # e.g. 32px, ch 32: [32, 64, 128]
        layers: list[nn.Module] = [wrap(nn.Conv2d(3, widths[0], 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers.append(wrap(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=spectral_norm)))
            if not spectral_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.features = nn.Sequential(*layers)  # (B, 3, R, R) -> (B, C, 4, 4)
        self.feature_dim = widths[-1]
        self.head = wrap(nn.Conv2d(widths[-1], 1, 4, 1, 0))

    def forward(self, x: torch.Tensor, labels: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        return self.head(self.features(x)).flatten()  # (B,) logits
