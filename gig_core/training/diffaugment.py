"""Differentiable augmentation for small catalogs: DiffAugment and an ADA-style probability.

DiffAugment (Zhao et al. 2020) augments real *and* generated batches before the
discriminator with differentiable ops, so D cannot memorise a few thousand photos and G
still gets gradients. ADA (Karras et al. 2020) applies each op with a probability p that
rises while D overfits (its outputs on real images are confidently positive) and falls
otherwise. Both run on float batches in [-1, 1] and draw from torch's global RNG on the
batch's device, so a seeded run (and a resumed one) sees the same augmentations.

Translation pads with white (the catalog background); cutout fills with mid-grey.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def _uniform(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1, 1) uniform draws on x's device, one per image."""
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device)


def _brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (_uniform(x) - 0.5) * 2 * 0.5  # +-0.5 in [-1, 1] units


def _saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x) * 2) + mean


def _contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x) + 0.5) + mean


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift_h = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    shift_w = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    batch, rows, cols = torch.meshgrid(*(torch.arange(n, device=x.device) for n in (b, h, w)), indexing="ij")
    rows = torch.clamp(rows + shift_h + 1, 0, h + 1)
    cols = torch.clamp(cols + shift_w + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1], value=1.0)  # (B, C, H + 2, W + 2), white border
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (B, C, H, W)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    off_h = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    off_w = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    batch, rows, cols = torch.meshgrid(*(torch.arange(n, device=x.device) for n in (b, ch, cw)), indexing="ij")
    rows = torch.clamp(rows + off_h - ch // 2, 0, h - 1)
    cols = torch.clamp(cols + off_w - cw // 2, 0, w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[batch, rows, cols] = 0
    return x * mask.unsqueeze(1)


POLICIES: dict[str, list[Callable[[torch.Tensor], torch.Tensor]]] = {
    "color": [_brightness, _saturation, _contrast],
    "translation": [_translation],
    "cutout": [_cutout],
}


def parse_policy(policy: str) -> list[str]:
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}; choose from {sorted(POLICIES)}")
    return names


def diff_augment(x: torch.Tensor, policy: list[str], p: float = 1.0) -> torch.Tensor:
    """(B, 3, H, W) float -> same shape; each op hits each image with probability p."""
    if p <= 0 or not policy:
        return x
    for name in policy:
        for op in POLICIES[name]:
            if p >= 1:
                x = op(x)
            else:
                hit = (_uniform(x) < p).to(x.dtype)
                x = hit * op(x) + (1 - hit) * x
    return x


class AdaptiveAugment:
    """ADA's controller: r_t = E[sign(D(real))] over `interval` steps; p moves towards r_t = target.

    p can go from 0 to 1 in `kimg` thousand images, up when r_t > target (D overfits), down otherwise.
    """

    def __init__(self, target: float, interval: int, kimg: float, batch_size: int):
        self.target, self.interval = target, interval
        self.step_size = batch_size * interval / (kimg * 1000)
        self.p, self.signs, self.count = 0.0, 0.0, 0

    def observe(self, real_logits: torch.Tensor) -> None:
        self.signs += float(torch.sign(real_logits.detach()).sum())
        self.count += real_logits.numel()

    def update(self, step: int, all_reduce: Callable[[torch.Tensor], None] | None = None,
               device: torch.device | str = "cpu") -> None:
        """Move p every `interval` steps; with several processes, from the signs seen by all of them
        (summed by `all_reduce` on `device`, the process group's: NCCL takes CUDA tensors only)."""
        if step % self.interval:
            return
        if all_reduce is not None:
            totals = torch.tensor([self.signs, float(self.count)], dtype=torch.float64, device=device)
            all_reduce(totals)
            self.signs, self.count = float(totals[0]), int(totals[1])
        if not self.count:
            return
        overfit = self.signs / self.count
        direction = 1.0 if overfit > self.target else -1.0
        self.p = min(max(self.p + direction * self.step_size, 0.0), 1.0)
        self.signs, self.count = 0.0, 0

    def state_dict(self) -> dict:
        return {"p": self.p, "signs": self.signs, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.p, self.signs, self.count = state["p"], state["signs"], state["count"]
