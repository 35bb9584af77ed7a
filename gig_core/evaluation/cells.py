"""Samples per condition cell, for the within-class metrics.

For every cell of the catalog (articleType x baseColour, or whatever the model is conditioned
on) with at least `evaluate.min_cell_images` real photos, the generator makes
`evaluate.cell_samples` images that differ only in z, to be set next to the cell's real
photos. The real side pools the held-out and training photos of the cell: a cell's spread is
a property of the catalog, and in a small catalog the held-out split alone has too few photos
per cell. An unconditional generator, or a folder of images, is one cell: everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from gig_core.diversity import condition_cells
from gig_core.evaluation.features import extract_features

MAX_REAL_PER_CELL = 128  # pairwise spread settles well before this; caps the cost on big cells
ALL = "all"


@dataclass
class CellSet:
    """Per cell: its name, real photos and samples, as images and features (lists in cell order)."""

    names: list[str] = field(default_factory=list)
    real_images: list[torch.Tensor] = field(default_factory=list)  # (n_c, 3, R, R) uint8
    real_features: list[torch.Tensor] = field(default_factory=list)  # (n_c, F)
    fake_images: list[torch.Tensor] = field(default_factory=list)  # (K, 3, R, R) uint8
    fake_features: list[torch.Tensor] = field(default_factory=list)  # (K, F)


@dataclass
class RealPool:
    """Every real photo of the catalog (held-out first, then training) without copying the images."""

    heldout: torch.Tensor  # (H, 3, R, R) uint8
    train: torch.Tensor  # (T, 3, R, R) uint8
    labels: dict[str, torch.Tensor]  # attribute -> (H + T,) class indices
    features: torch.Tensor  # (H + T, F)
    vocab: dict[str, list[str]]
    titles: list[str] = field(default_factory=list)  # (H + T) product titles, "" where the catalog has none

    def __len__(self) -> int:
        return len(self.features)

    def images(self, index: torch.Tensor) -> torch.Tensor:
        """(n,) pool indices -> (n, 3, R, R) uint8."""
        out = torch.empty(len(index), *self.heldout.shape[1:], dtype=torch.uint8)
        heldout = index < len(self.heldout)
        out[heldout] = self.heldout[index[heldout]]
        out[~heldout] = self.train[index[~heldout] - len(self.heldout)]
        return out


def _subset(n: int, limit: int, seed: int) -> torch.Tensor:
    """Up to `limit` of range(n), a fixed random choice."""
    if n <= limit:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].sort().values


def build_cells(reference, source, fakes: torch.Tensor, extractor) -> CellSet:
    """The cells `source` is scored in; `fakes` are its held-out-mix samples (used for one-cell sources)."""
    config = reference.config
    pool = reference.real_pool()
    bundle = source.bundle
    attributes = [a for a in bundle.arch.vocab if a in pool.labels] if bundle is not None else []
    cells = CellSet()
    if not attributes:  # unconditional: one cell, every image
        real = _subset(len(pool), 4 * MAX_REAL_PER_CELL, config.seed)
        fake = _subset(len(fakes), 4 * MAX_REAL_PER_CELL, config.seed + 1)
        cells.names, cells.real_images, cells.real_features = [ALL], [pool.images(real)], [pool.features[real]]
        cells.fake_images = [fakes[fake]]
        cells.fake_features = [extract_features(extractor, cells.fake_images[0], config.batch_size)]
        return cells

    wanted = []
    for cell in condition_cells(pool.labels, attributes, config.min_cell_images, config.max_cells):
        values = {a: pool.vocab[a][i] for a, i in cell.labels.items()}
        if any(values[a] not in bundle.arch.vocab[a] for a in values) and not bundle.arch.titled:
            continue  # an older model that never saw this class cannot be asked for it
        rows = cell.rows[_subset(len(cell.rows), MAX_REAL_PER_CELL, config.seed)]
        cells.names.append(cell.name(pool.vocab))
        cells.real_images.append(pool.images(rows))
        cells.real_features.append(pool.features[rows])
        if bundle.arch.titled:  # a title model gets one real title of the cell: same title, many images
            values["title"] = pool.titles[int(rows[0])]
        wanted += [values] * config.cell_samples
    if not wanted:
        return cells
    labels = bundle.encode(wanted, unknown="random", seed=config.seed)
    samples = bundle.sample(len(wanted), labels, seed=config.seed + 1, batch_size=config.batch_size)  # (C * K, 3, R, R)
    samples = reference.on_footing(samples)
    features = extract_features(extractor, samples, config.batch_size)
    cells.fake_images = list(samples.split(config.cell_samples))
    cells.fake_features = list(features.split(config.cell_samples))
    return cells
