"""The text-conditioned GAN (`tgan`): product images from a product title.

The generator is the hierarchical generator of hcgan.py with a title where the attribute
embeddings were: the catalog's title encoder (gig_core/text/encoder.py, frozen, fitted on the
training titles) turns a title into a unit vector, and a learned projection of it joins each
block's z chunk in the conditional batch norm, so one title still gives many images. The
encoder travels inside the generator's weights: a registered model takes words, not vectors.
The discriminator is the projection discriminator with the title vector projected onto its
features; it is trained matching-aware (objectives.py): a real photo under a wrong title counts
as fake (Reed et al. 2016), so matching the words is part of looking real.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gig_core.text.encoder import TitleEncoder, TitleEncoderSpec


class TitleConditioning(nn.Module):
    """(B, D) title vectors -> (B, out_dim) conditioning; owns the frozen encoder that makes the vectors."""

    def __init__(self, spec: TitleEncoderSpec, out_dim: int):
        super().__init__()
        self.encoder = TitleEncoder(spec).requires_grad_(False)
        self.project = nn.Linear(spec.dim, out_dim)
        self.out_dim = out_dim

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.project(vectors)  # (B, out_dim)

    def encode(self, titles: Sequence[str]) -> torch.Tensor:
        """Titles -> (N, D) unit vectors on the CPU (the encoder's hashing runs in Python)."""
        return self.encoder.encode(list(titles))
