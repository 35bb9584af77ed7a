"""The hierarchical-latent conditional GAN (`hcgan`): a generator that cannot ignore its noise.

The conditional DCGAN (`cgan`) feeds z only into its first layer, next to the label
embeddings; trained on a catalog it learns to draw one image per product type and ignore z
(benchmarks/README.md, "Within-class diversity"). Here, as in BigGAN (Brock et al. 2019), z is
split into one chunk per block, and every block's conditional batch norm takes its scale and
shift from (its z chunk, the label embeddings), so the noise reaches every resolution. Blocks
upsample with nearest neighbours and a 3x3 convolution instead of a transposed convolution,
which leaves no checkerboard pattern. The discriminator is the projection discriminator of
the conditional GAN (cgan.py); the family trains with the mode-seeking term (MSGAN) on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gig_core.models.dcgan import num_upsamplings

BLOCKS = (
    "upconv",
    "deconv",
    "residual",
)  # upconv is the family's; the others are kept for benchmarks/generator_variants.py


class LinearConditionalBatchNorm2d(nn.Module):
    """Batch norm with scale 1 + W_g c and shift W_b c for a conditioning vector c (z chunk + labels)."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels, bias=False)
        self.bias = nn.Linear(cond_dim, channels, bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * (1 + self.gain(cond)[:, :, None, None]) + self.bias(cond)[:, :, None, None]


class GeneratorBlock(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, 2H, 2W): CBN, ReLU, 2x upsampling and a convolution.

    upconv: nearest-neighbour upsampling + 3x3 conv; deconv: a 4x4 stride-2 transposed conv
    (DCGAN's, cheaper, with checkerboards); residual: upconv plus a second CBN-ReLU-conv and a
    1x1 skip (BigGAN's block, about 2x the compute).
    """

    def __init__(self, c_in: int, c_out: int, cond_dim: int, kind: str = "upconv"):
        super().__init__()
        if kind not in BLOCKS:
            raise ValueError(f"unknown generator block {kind!r}; choose one of {BLOCKS}")
        self.kind = kind
        self.norm1 = LinearConditionalBatchNorm2d(c_in, cond_dim)
        self.conv1 = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1) if kind == "deconv" else nn.Conv2d(c_in, c_out, 3, 1, 1)
        if kind == "residual":
            self.norm2 = LinearConditionalBatchNorm2d(c_out, cond_dim)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
            self.skip = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm1(x, cond))
        if self.kind == "deconv":
            return self.conv1(h)
        h = self.conv1(F.interpolate(h, scale_factor=2, mode="nearest"))
        if self.kind == "upconv":
            return h
        h = self.conv2(torch.relu(self.norm2(h, cond)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class HierarchicalGenerator(nn.Module):
    """(B, z_dim) noise + labels -> (B, 3, R, R) in [-1, 1], with a z chunk in every block."""

    def __init__(
        self,
        z_dim: int,
        channels: int,
        resolution: int,
        vocab_sizes: dict[str, int],
        embed_dim: int,
        block: str = "upconv",
        title: nn.Module | None = None,
    ):
        super().__init__()
        n = num_upsamplings(resolution)
        self.z_dim, self.resolution = z_dim, resolution
        self.chunk = z_dim // (n + 1)  # one chunk per block; the first layer gets the rest (at least one chunk)
        if self.chunk < 1:
            raise ValueError(f"z_dim {z_dim} is too small to give each of {n + 1} layers a share of the noise")
        cond_dim = embed_dim * len(vocab_sizes) + (title.out_dim if title is not None else 0)
        widths = [max(16, (channels << (n - 1)) >> i) for i in range(n + 1)]  # e.g. 32px, ch 32: [128, 64, 32, 16]
        self.embeddings = nn.ModuleDict({a: nn.Embedding(k, embed_dim) for a, k in vocab_sizes.items()})
        self.title = title  # the text family's title conditioning (tgan.py); None for attribute labels
        self.linear = nn.Linear(z_dim - n * self.chunk + cond_dim, widths[0] * 16)
        self.blocks = nn.ModuleList(
            GeneratorBlock(a, b, self.chunk + cond_dim, block) for a, b in zip(widths, widths[1:])
        )
        self.out_norm = nn.BatchNorm2d(widths[-1])
        self.to_rgb = nn.Conv2d(widths[-1], 3, 3, 1, 1)

    def condition(self, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, A * E) label embeddings, then the projected title vector when there is one."""
        parts = [emb(labels[a]) for a, emb in self.embeddings.items()]
        if self.title is not None:
            parts.append(self.title(labels["title"]))
        return torch.cat(parts, dim=1)

    def forward(self, z: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        cond = self.condition(labels)  # (B, cond_dim)
        first, *chunks = z.split([self.z_dim - len(self.blocks) * self.chunk] + [self.chunk] * len(self.blocks), dim=1)
        h = self.linear(torch.cat([first, cond], dim=1)).view(z.shape[0], -1, 4, 4)  # (B, C0, 4, 4)
        for block, chunk in zip(self.blocks, chunks):
            h = block(h, torch.cat([chunk, cond], dim=1))  # (B, C_i, 2H, 2W)
        out = torch.tanh(self.to_rgb(torch.relu(self.out_norm(h))))
        assert out.shape[1:] == (3, self.resolution, self.resolution), out.shape
        return out
