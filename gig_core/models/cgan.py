"""Conditional GAN over one or more catalog attributes (articleType, baseColour, ...).

Generator: one learned embedding per attribute next to z, and conditional batch norm in
every block. Discriminator: a projection discriminator (Miyato & Koyama 2018), an
unconditional score plus the inner product of attribute embeddings with the image features;
optionally with one auxiliary classifier head per attribute on the same features (AC-GAN,
Odena et al. 2017), trained when `train.class_weight` > 0.
"""

from __future__ import annotations

import torch
from torch import nn

from gig_core.models.dcgan import DCGANDiscriminator, DCGANGenerator


class ConditionalGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, resolution: int, vocab_sizes: dict[str, int], embed_dim: int):
        super().__init__()
        self.z_dim, self.resolution = z_dim, resolution
        self.embeddings = nn.ModuleDict({a: nn.Embedding(n, embed_dim) for a, n in vocab_sizes.items()})
        self.body = DCGANGenerator(z_dim, channels, resolution, cond_dim=embed_dim * len(vocab_sizes),
                                   vocab_sizes=vocab_sizes)

    def forward(self, z: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        cond = torch.cat([emb(labels[a]) for a, emb in self.embeddings.items()], dim=1)  # (B, A * E)
        return self.body.synthesize(torch.cat([z, cond], dim=1), labels)  # (B, 3, R, R)


class ProjectionDiscriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, vocab_sizes: dict[str, int], classifier: bool = False,
                 text_dim: int = 0):
        super().__init__()
        self.trunk = DCGANDiscriminator(channels, resolution, norm="spectral", head=False)
        dim = self.trunk.feature_dim
        self.linear = nn.utils.spectral_norm(nn.Linear(dim, 1))
        self.projections = nn.ModuleDict(
            {a: nn.utils.spectral_norm(nn.Embedding(n, dim)) for a, n in vocab_sizes.items()}
        )
        # The text family's title vector, projected the same way (None: attribute labels only).
        self.title = nn.utils.spectral_norm(nn.Linear(text_dim, dim, bias=False)) if text_dim else None
        # Built only when trained: DistributedDataParallel refuses parameters that get no gradient.
        self.classifiers = nn.ModuleDict(
            {a: nn.utils.spectral_norm(nn.Linear(dim, n)) for a, n in vocab_sizes.items()} if classifier else {}
        )

    def forward(self, x: torch.Tensor, labels: dict[str, torch.Tensor],
                classify: bool = False) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(B,) real/fake logits; with classify, also {attribute: (B, K) class logits} from the same features."""
        h = self.trunk.features(x).sum(dim=(2, 3))  # (B, C)
        out = self.linear(h).flatten()  # (B,)
        for a, proj in self.projections.items():
            out = out + (proj(labels[a]) * h).sum(dim=1)
        if self.title is not None:
            out = out + (self.title(labels["title"]) * h).sum(dim=1)
        if not classify:
            return out
        return out, {a: head(h) for a, head in self.classifiers.items()}
