"""A text-image matching model for R-precision: does an image match its own title better than
other products' titles?

Both sides start from frozen features the evaluation already has: the image's features from the
evaluation's extractor and the title's vector from the catalog's title encoder. Two small
projections into a shared space are trained on the training split only, with the symmetric
contrastive loss of CLIP (Radford et al. 2021): in a batch, each photo's own title is the right
answer among the others'. R-precision (Xu et al. 2018, AttnGAN) then ranks an image's title
among `candidates - 1` titles of other held-out products.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SHARED_DIM = 64
TEMPERATURE = 0.07


class TitleImageMatcher(nn.Module):
    """(N, F) image features and (N, D) title vectors -> unit vectors in one space."""

    def __init__(self, image_dim: int, title_dim: int, hidden: int = 256):
        super().__init__()
        self.image = nn.Sequential(nn.Linear(image_dim, hidden), nn.ReLU(), nn.Linear(hidden, SHARED_DIM))
        self.title = nn.Sequential(nn.Linear(title_dim, hidden), nn.ReLU(), nn.Linear(hidden, SHARED_DIM))
        self.register_buffer("mean", torch.zeros(image_dim))
        self.register_buffer("scale", torch.ones(image_dim))

    def embed_images(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image((features.float() - self.mean) / self.scale), dim=1)  # (N, S)

    def embed_titles(self, vectors: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.title(vectors.float()), dim=1)  # (N, S)


def fit_matcher(image_features: torch.Tensor, title_vectors: torch.Tensor, epochs: int = 30,
                batch_size: int = 512, lr: float = 2e-3, seed: int = 0) -> TitleImageMatcher:
    """A matcher trained on (N, F) training-image features and their (N, D) title vectors."""
    generator = torch.Generator().manual_seed(seed)
    features = image_features.float()
    with torch.random.fork_rng(devices=[]):  # seeded weights, without moving the caller's random stream
        torch.manual_seed(seed)
        model = TitleImageMatcher(features.shape[1], title_vectors.shape[1])
    model.mean.copy_(features.mean(0))
    model.scale.copy_(features.std(0).clamp_min(1e-6))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for index in torch.randperm(len(features), generator=generator).split(batch_size):
            if len(index) < 2:
                continue
            logits = model.embed_images(features[index]) @ model.embed_titles(title_vectors[index]).T / TEMPERATURE
            target = torch.arange(len(index))  # (B,): photo i goes with title i
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()


def distractors(titles: list[str], count: int, seed: int) -> torch.Tensor:
    """(N, K) indices into `titles` of other products' titles (never one with the same text) for each row;
    K = count, or one less than the distinct titles when there are fewer (a small held-out split)."""
    generator = torch.Generator().manual_seed(seed)
    n = len(titles)
    count = min(count, len(set(titles)) - 1)
    if count < 1:
        raise ValueError("R-precision needs at least two different held-out titles")
    ids = {t: i for i, t in enumerate(dict.fromkeys(titles))}
    text = torch.tensor([ids[t] for t in titles])  # (N,) one id per distinct title
    picks = torch.randint(n, (n, count), generator=generator)
    same = text[picks] == text[:, None]  # (N, count)
    while same.any():  # redraw the few that hit a title with the same text
        picks[same] = torch.randint(n, (int(same.sum()),), generator=generator)
        same = text[picks] == text[:, None]
    return picks


@torch.no_grad()
def r_precision_hits(matcher: TitleImageMatcher, image_features: torch.Tensor, title_vectors: torch.Tensor,
                     others: torch.Tensor) -> torch.Tensor:
    """(N,) 1.0 where image i scores its own title (row i of title_vectors) above every title in others[i]."""
    images = matcher.embed_images(image_features)  # (N, S)
    titles = matcher.embed_titles(title_vectors)  # (N, S)
    own = (images * titles).sum(1)  # (N,)
    rival = torch.einsum("ns,nks->nk", images, titles[others])  # (N, K)
    return (own > rival.max(dim=1).values).float()
