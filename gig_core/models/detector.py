"""The real-vs-generated detector: a small CNN that scores how real an image looks, as a shop shows it.

evaluation/c2st.py trains one per evaluated model (held-out photos against that model's samples); its test
accuracy is the C2ST figure, and the trained network travels with the registered model, so that generate,
serve and the gallery can rank a model's samples by P(real) and keep the better share (rejection sampling,
as Discriminator Rejection Sampling, Azadi et al. 2019, does with the GAN's own discriminator).
"""

from __future__ import annotations

import torch
from torch import nn

from gig_core.atomic import atomic_file
from gig_core.config import PostprocessConfig
from gig_core.postprocess import DISPLAY_SIZE, as_shown
from gig_core.torch_files import read_torch_file


class RealnessDetector(nn.Module):
    """(B, 3, H, W) uint8 at DISPLAY_SIZE -> (B,) logits of 'real'."""

    def __init__(self, width: int = 32):
        super().__init__()
        widths = [3, width, 2 * width, 4 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:]):  # 128x96 -> 64x48 -> 32x24 -> 16x12 -> 8x6 -> 4x3
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(widths[-1], 1)
        self.width = width

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, 3, 128, 96) uint8 -> (B,)
        assert images.shape[1:] == (3, DISPLAY_SIZE[1], DISPLAY_SIZE[0]), images.shape
        return self.head(self.trunk(images.float().div(127.5).sub(1.0))).squeeze(1)  # (B,), pixels in [-1, 1]

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) uint8 -> (N,) logits of 'real', in eval mode, 256 at a time."""
        was_training = self.training
        self.eval()
        scores = torch.cat([self(images[i:i + 256]).float() for i in range(0, len(images), 256)]) \
            if len(images) else torch.empty(0)
        self.train(was_training)
        return scores

    def realism(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) uint8 -> (N,) P(real) in [0, 1]."""
        return torch.sigmoid(self.logits(images))

    def save(self, path) -> None:
        with atomic_file(path) as handle:
            torch.save({"width": self.width, "state_dict": self.state_dict()}, handle)

    @classmethod
    def load(cls, path) -> "RealnessDetector":
        data = read_torch_file(path, "realism detector", "rerun gig evaluate with c2st in evaluate.metrics")
        detector = cls(data["width"])
        detector.load_state_dict(data["state_dict"])
        return detector.eval()

    def score_samples(self, images: torch.Tensor, display: PostprocessConfig) -> torch.Tensor:
        """(N, 3, R, R) uint8 generator output -> (N,) logits of each, post-processed as a shop shows it: what
        the realism filter ranks by (P(real) saturates at 0 for most samples of today's models)."""
        return self.logits(as_shown(images, display))

    def readable(self, scores: torch.Tensor) -> torch.Tensor:
        """score_samples' logits -> (N,) P(real): what a person reads."""
        return torch.sigmoid(scores)
