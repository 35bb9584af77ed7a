"""Variational autoencoder (Kingma & Welling 2014) and VAE-GAN (Larsen et al. 2016).

The decoder is a DCGAN generator and doubles as the model's generator: sampling decodes
z ~ N(0, I). The encoder predicts (mu, log variance); VAE-GAN adds a discriminator whose
features replace pixels as the reconstruction space.
"""

from __future__ import annotations

import torch
from torch import nn

from gig_core.models.autoencoder import ConvEncoder
from gig_core.models.dcgan import DCGANDiscriminator, DCGANGenerator


def encode(encoder: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mu, logvar = encoder(x).chunk(2, dim=1)  # (B, z), (B, z)
    return mu, logvar.clamp(-30.0, 20.0)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # (B, z)


def build_vae(z_dim: int, channels: int, resolution: int) -> dict[str, nn.Module]:
    return {
        "generator": DCGANGenerator(z_dim, channels, resolution),
        "encoder": ConvEncoder(channels, resolution, 2 * z_dim),
    }


def build_vaegan(z_dim: int, g_channels: int, d_channels: int, resolution: int) -> dict[str, nn.Module]:
    return {**build_vae(z_dim, g_channels, resolution), "discriminator": DCGANDiscriminator(d_channels, resolution)}
