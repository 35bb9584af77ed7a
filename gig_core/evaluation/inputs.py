"""What every metric is computed from: features and images of both sides, plus context.

Built once per evaluation (evaluate.py) so each metric module only does its own math.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from gig_core.config import EvaluateConfig

if TYPE_CHECKING:
    from gig_core.evaluation.cells import CellSet
    from gig_core.evaluation.metrics.text_alignment import TextInputs


@dataclass
class EvaluationInputs:
    """Two feature spaces: the standard one (`real`, `fake`, `floor`: Inception by default) for the distances
    that compare with published figures, and the catalog classifier's (`catalog_*`, `train`) for what needs
    features of every training photo or names classes."""

    config: EvaluateConfig
    real: torch.Tensor  # (N, F) float64 standard features of the held-out real images
    fake: torch.Tensor  # (M, F) float64 standard features of the generated images
    real_images: torch.Tensor  # (N, 3, R, R) uint8
    fake_images: torch.Tensor  # (M, 3, R, R) uint8
    train: torch.Tensor  # (T, C) float64 catalog features of the training images (memorization)
    real_rows: list[dict[str, str]]  # attributes of each held-out image
    fake_rows: list[dict[str, str]] | None  # attributes each sample was asked for; None for an unlabelled folder
    classifier: nn.Module | None  # the catalog classifier (conditional accuracy), or None when unavailable
    vocab: dict[str, list[str]]  # class names of each labelled attribute, as the classifier indexes them
    cells: CellSet | None = None  # several samples per condition cell next to its real photos (within-class metrics)
    text: TextInputs | None = None  # a title model's titles and matching model (text alignment)
    floor: torch.Tensor | None = None  # (N, F) standard features of N training photos: real against real
    catalog_real: torch.Tensor | None = None  # (N, C) catalog features of the held-out images
    catalog_fake: torch.Tensor | None = None  # (M, C) catalog features of the samples
    real_display: torch.Tensor | None = None  # (N, 3, H, W) uint8 held-out photos as shown (C2ST)
    fake_display: torch.Tensor | None = None  # (M, 3, H, W) uint8 samples as shown (C2ST)
    progress: bool = False

    @property
    def class_attribute(self) -> str | None:
        """The attribute per-class metrics group by: the first one the samples were asked for."""
        if not self.fake_rows or not self.fake_rows[0]:
            return None
        return next(iter(self.fake_rows[0]))


def cell_indices(rows: list[dict[str, str]] | None, attributes: list[str]) -> dict[tuple, torch.Tensor]:
    """{attribute values: indices of the rows with them}; one group of all rows without attributes."""
    if not rows or not attributes:
        return {(): torch.arange(len(rows or []))}
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row[a] for a in attributes), []).append(i)
    return {values: torch.tensor(index) for values, index in groups.items()}


def class_indices(rows: list[dict[str, str]], attribute: str) -> dict[str, torch.Tensor]:
    """{value: indices of the rows with that value}."""
    return {values[0]: index for values, index in cell_indices(rows, [attribute]).items()}
