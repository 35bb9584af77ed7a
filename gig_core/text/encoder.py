"""A title encoder trained on the catalog's own titles, offline and small.

A title ("Turtle Check Men Navy Blue Shirt") is a bag of hashed features: its lower-cased words
and the character trigrams of each word (fastText's subwords, Bojanowski et al. 2017), so a
plural, a typo or an unseen word still shares features with the catalog's words. The features'
mean embedding, L2-normalised, is the title's vector. It is fitted to predict the catalog's
attributes (articleType, baseColour, ...) from the title, which is what a generator conditioned
on it must get right; new combinations of known words ("Women Pink Sports Watch") land where
their words point.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class TitleEncoderSpec:
    """Everything needed to rebuild an encoder from its weights."""

    buckets: int = 1 << 15  # hashed feature slots
    dim: int = 64
    trigrams: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def title_features(title: str, spec: TitleEncoderSpec) -> list[int]:
    """Hashed feature ids of a title: its words and, with spec.trigrams, each word's character trigrams."""
    ids = []
    for word in WORD.findall(title.lower()):
        ids.append(zlib.crc32(f"w:{word}".encode()) % spec.buckets)
        if spec.trigrams:
            padded = f"<{word}>"
            ids += [zlib.crc32(f"t:{padded[i:i + 3]}".encode()) % spec.buckets for i in range(len(padded) - 2)]
    return ids


class TitleEncoder(nn.Module):
    """Titles -> (B, dim) unit vectors: the mean of their hashed features' embeddings."""

    def __init__(self, spec: TitleEncoderSpec):
        super().__init__()
        self.spec = spec
        self.bag = nn.EmbeddingBag(spec.buckets, spec.dim, mode="mean")

    def forward(self, titles: Sequence[str]) -> torch.Tensor:
        return self.embed([title_features(t, self.spec) for t in titles])  # (B, dim)

    def embed(self, features: Sequence[list[int]]) -> torch.Tensor:
        """Hashed feature ids per title -> (B, dim) unit vectors; a title without words gets a zero vector."""
        device = self.bag.weight.device
        offsets = torch.tensor([0] + [len(f) for f in features[:-1]], dtype=torch.int64, device=device).cumsum(0)
        flat = torch.tensor([i for f in features for i in f], dtype=torch.int64, device=device)
        return F.normalize(self.bag(flat, offsets), dim=1)

    @torch.no_grad()
    def encode(self, titles: Sequence[str], batch_size: int = 4096) -> torch.Tensor:
        """(N, dim) vectors of `titles` on the CPU (the encoder has no train-time behaviour)."""
        parts = [self(titles[i:i + batch_size]).cpu() for i in range(0, len(titles), batch_size)]
        return torch.cat(parts) if parts else torch.empty(0, self.spec.dim)


def fit_title_encoder(titles: Sequence[str], labels: dict[str, torch.Tensor], vocab_sizes: dict[str, int],
                      spec: TitleEncoderSpec = TitleEncoderSpec(), epochs: int = 8, batch_size: int = 256,
                      lr: float = 0.05, seed: int = 0) -> TitleEncoder:
    """An encoder whose vectors predict every attribute in `labels` ((N,) class indices) from `titles`."""
    if not titles or not labels:
        raise ValueError("fitting a title encoder needs titles and at least one attribute to predict")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    encoder = TitleEncoder(spec)
    heads = nn.ModuleDict({a: nn.Linear(spec.dim, vocab_sizes[a]) for a in labels})
    optimizer = torch.optim.Adam([*encoder.parameters(), *heads.parameters()], lr=lr)
    features = [title_features(t, spec) for t in titles]  # hashed once, not once per epoch
    for _ in range(epochs):
        for index in torch.randperm(len(titles), generator=generator).split(batch_size):
            vectors = encoder.embed([features[i] for i in index.tolist()]) * 8.0  # (B, dim); a temperature
            loss = sum(F.cross_entropy(head(vectors), labels[a][index]) for a, head in heads.items())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return encoder.eval()


def save_state(encoder: TitleEncoder) -> dict:
    return {"spec": encoder.spec.to_dict(), "state_dict": encoder.state_dict()}


def load_state(state: dict) -> TitleEncoder:
    encoder = TitleEncoder(TitleEncoderSpec(**state["spec"]))
    encoder.load_state_dict(state["state_dict"])
    return encoder.eval()
