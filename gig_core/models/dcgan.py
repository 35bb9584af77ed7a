"""DCGAN (Radford et al. 2015): transposed-conv generator, strided-conv discriminator.

The generator's normalisation is pluggable: plain batch norm for DCGAN, conditional batch
norm for the conditional GAN, so both share one body. The discriminator's trunk is shared by
the projection discriminator, the WGAN critic and the VAE-GAN discriminator.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


def num_upsamplings(resolution: int) -> int:
    """4x4 -> resolution in stride-2 steps: 32 -> 3, 64 -> 4, 128 -> 5."""
    if resolution not in (32, 64, 128):
        raise ValueError(f"resolution must be 32, 64 or 128, got {resolution}")
    return int(math.log2(resolution)) - 2


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift come from the labels, summed over attributes."""

    def __init__(self, channels: int, vocab_sizes: dict[str, int]):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.ModuleDict({a: nn.Embedding(n, channels) for a, n in vocab_sizes.items()})
        self.beta = nn.ModuleDict({a: nn.Embedding(n, channels) for a, n in vocab_sizes.items()})
        for emb in [*self.gamma.values(), *self.beta.values()]:
            nn.init.zeros_(emb.weight)  # starts as plain batch norm

    def forward(self, x: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        gamma = sum(emb(labels[a]) for a, emb in self.gamma.items())[:, :, None, None]  # (B, C, 1, 1)
        beta = sum(emb(labels[a]) for a, emb in self.beta.items())[:, :, None, None]
        return self.bn(x) * (1 + gamma) + beta


class DCGANGenerator(nn.Module):
    """(B, z_dim + cond_dim) -> (B, 3, R, R) in [-1, 1]; with vocab_sizes, every norm is conditional."""

    def __init__(self, z_dim: int, channels: int, resolution: int, cond_dim: int = 0,
                 vocab_sizes: dict[str, int] | None = None):
        super().__init__()
        self.z_dim, self.resolution = z_dim, resolution
        n = num_upsamplings(resolution)
        widths = [channels * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 32px, ch 32: [128, 64, 32]
        norm: Callable[[int], nn.Module] = (
            (lambda c: ConditionalBatchNorm2d(c, vocab_sizes)) if vocab_sizes else nn.BatchNorm2d
        )
        self.convs = nn.ModuleList([nn.ConvTranspose2d(z_dim + cond_dim, widths[0], 4, 1, 0, bias=False)])
        self.convs.extend(nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False) for a, b in zip(widths, widths[1:]))
        self.norms = nn.ModuleList(norm(c) for c in widths)
        self.to_rgb = nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1)

    def synthesize(self, x: torch.Tensor, labels: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        h = x[:, :, None, None]  # (B, z + cond, 1, 1)
        for conv, norm in zip(self.convs, self.norms):
            h = conv(h)
            h = torch.relu(norm(h, labels) if isinstance(norm, ConditionalBatchNorm2d) else norm(h))
        out = torch.tanh(self.to_rgb(h))
        assert out.shape[1:] == (3, self.resolution, self.resolution), out.shape
        return out

    def forward(self, z: torch.Tensor, labels: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        return self.synthesize(z)  # unconditional: labels are ignored


class DCGANDiscriminator(nn.Module):
    """Strided convs down to 4x4, then a 4x4 conv to one logit.

    norm: "batch" (DCGAN), "spectral" (projection discriminator) or "none" (WGAN-GP critic,
    where batch norm would break the per-sample gradient penalty).
    """

    def __init__(self, channels: int, resolution: int, norm: str = "batch", head: bool = True):
        super().__init__()
        if norm not in ("batch", "spectral", "none"):
            raise ValueError(f"unknown discriminator norm {norm!r}")
        n = num_upsamplings(resolution)
        wrap = nn.utils.spectral_norm if norm == "spectral" else (lambda m: m)
        widths = [channels * 2**i for i in range(n)]  # e.g. 32px, ch 32: [32, 64, 128]
        layers: list[nn.Module] = [wrap(nn.Conv2d(3, widths[0], 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers.append(wrap(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm != "batch")))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.features = nn.Sequential(*layers)  # (B, 3, R, R) -> (B, C, 4, 4)
        self.feature_dim = widths[-1]
        self.head = wrap(nn.Conv2d(widths[-1], 1, 4, 1, 0)) if head else None  # projection D brings its own

    def forward(self, x: torch.Tensor, labels: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        return self.head(self.features(x)).flatten()  # (B,) logits
