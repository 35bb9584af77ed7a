"""How varied a set of images is, and the condition cells it is measured in: the one definition
that the training collapse guard and the evaluation metrics share.

Spread is the mean pairwise Euclidean distance within a set. In pixel space it is taken on
16x16 thumbnails, so that speckle noise (which adds distance between any two images) cannot
pass for variety. A conditional generator is judged within a condition cell (one
articleType x baseColour combination): across cells its images differ by label alone, so an
overall spread can look real-like while every cell holds one image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

THUMBNAIL = 16
CELL_SEPARATOR = " / "


def thumbnails(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, R, R) uint8 -> (N, 3 * 16 * 16) float in [0, 1]."""
    return F.adaptive_avg_pool2d(images.float() / 255, THUMBNAIL).flatten(1)


def spread(vectors: torch.Tensor) -> float:
    """Mean pairwise distance of (N, D) vectors; NaN for fewer than two."""
    if len(vectors) < 2:
        return float("nan")
    return float(torch.pdist(vectors.double()).mean())


def pixel_spread(images: torch.Tensor) -> float:
    """Mean pairwise distance of (N, 3, R, R) uint8 images, on thumbnails."""
    return spread(thumbnails(images))


@dataclass(frozen=True)
class ConditionCell:
    """One combination of attribute values and the rows of a split that have it."""

    labels: dict[str, int]  # attribute -> class index
    rows: torch.Tensor  # (n,) int64 row indices

    def name(self, vocab: Mapping[str, Sequence[str]]) -> str:
        return CELL_SEPARATOR.join(vocab[a][i] for a, i in self.labels.items())


def condition_cells(labels: Mapping[str, torch.Tensor], attributes: Sequence[str], min_rows: int,
                    max_cells: int) -> list[ConditionCell]:
    """The largest `max_cells` attribute combinations with at least `min_rows` rows, largest first.

    labels: attribute -> (N,) class indices of every row. Ties are broken by the label values,
    so the same split always gives the same cells.
    """
    if not attributes:
        return []
    keys = torch.stack([labels[a] for a in attributes], dim=1)  # (N, A)
    combos, inverse, counts = torch.unique(keys, dim=0, return_inverse=True, return_counts=True)
    order = sorted(range(len(combos)), key=lambda c: (-int(counts[c]), combos[c].tolist()))
    cells = []
    for c in order[:max_cells]:
        if counts[c] < min_rows:
            break
        cells.append(ConditionCell(dict(zip(attributes, combos[c].tolist())), torch.nonzero(inverse == c).flatten()))
    return cells
