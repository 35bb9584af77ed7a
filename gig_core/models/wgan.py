"""WGAN-GP (Gulrajani et al. 2017): DCGAN generator, a critic without batch norm.

Batch norm couples the samples of a batch, which breaks the per-sample gradient penalty, so
the critic has no normalisation; the Wasserstein loss and penalty live in training/losses.py.
"""

from __future__ import annotations

from torch import nn

from gig_core.models.dcgan import DCGANDiscriminator, DCGANGenerator


def build_wgan(z_dim: int, g_channels: int, d_channels: int, resolution: int) -> dict[str, nn.Module]:
    return {"generator": DCGANGenerator(z_dim, g_channels, resolution),
            "discriminator": DCGANDiscriminator(d_channels, resolution, norm="none")}
