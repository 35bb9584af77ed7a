"""The training-time collapse guard: do fixed-noise samples still vary within one condition cell?

Comparing samples across classes says nothing about collapse, since they differ by class
alone; a conditional generator that ignores its noise draws one image per class and still
looks varied. So the guard takes the largest condition cells of the training split
(articleType x baseColour, ...), gives each several fixed latents, and compares the pixel
spread of each cell's samples with the spread of that cell's real photos. An unconditional
generator is one cell. The figure is logged from the first step; warnings start at step
WARMUP_STEPS, when the EMA generator's batch-norm statistics have settled. The same definition
of spread serves the evaluation metric (gig_core/diversity.py).
"""

from __future__ import annotations

import warnings

import torch

from gig_core.data.preprocess import TensorSplit
from gig_core.diversity import condition_cells, pixel_spread
from gig_core.models import Architecture
from gig_core.sampling import GeneratorBundle

WARMUP_STEPS = 100  # before this, the EMA generator's batch-norm statistics are still settling and any model looks flat
GUARD_CELLS = 8
SAMPLES_PER_CELL = 8
MIN_REAL = 4
MAX_REAL = 64


class ModeCollapseWarning(UserWarning):
    """Fixed-noise samples have lost most of their variety within a condition cell."""


class CollapseGuard:
    """Fixed latents for a few condition cells and each cell's real pixel spread."""

    def __init__(self, arch: Architecture, data: TensorSplit, seed: int):
        attributes = list(arch.vocab)
        cells = condition_cells(data.labels, attributes, MIN_REAL, GUARD_CELLS) if attributes else []
        self.rows: list[dict[str, str]] | None = None  # what each sample is asked for (GeneratorBundle.encode)
        if cells:
            self.names = [cell.name(arch.vocab) for cell in cells]
            reals = [data.images[cell.rows[:MAX_REAL]] for cell in cells]
            # A title model gets one title of the cell, the same for all its samples: "same title, many images".
            self.rows = [{**{a: arch.vocab[a][i] for a, i in cell.labels.items()},
                          **({"title": data.titles[int(cell.rows[0])]} if arch.titled else {})}
                         for cell in cells for _ in range(SAMPLES_PER_CELL)]
            per_cell = SAMPLES_PER_CELL
        else:  # unconditional (or no cell with enough photos): one cell of everything
            self.names = ["all"]
            reals = [data.images[torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:MAX_REAL]]]
            per_cell = GUARD_CELLS * SAMPLES_PER_CELL
        self.labels: dict[str, torch.Tensor] | None = None  # self.rows encoded, on the first measure
        self.per_cell = per_cell
        self.real_spread = [pixel_spread(images) for images in reals]
        generator = torch.Generator().manual_seed(seed)
        self.z = torch.randn(len(self.names) * per_cell, arch.z_dim, generator=generator)  # (C * K, z)

    def measure(self, bundle: GeneratorBundle) -> dict[str, float]:
        """{cell name: sample spread / real spread} for the generator as it is now."""
        if self.rows is not None and self.labels is None:
            self.labels = bundle.encode(self.rows)
        images = bundle.from_latents(self.z, self.labels)  # (C * K, 3, R, R) uint8
        return {name: pixel_spread(cell) / real if real > 0 else float("nan")
                for name, cell, real in zip(self.names, images.split(self.per_cell), self.real_spread)}

    @staticmethod
    def summary(ratios: dict[str, float]) -> dict[str, float]:
        """The figures logged per step: mean and worst cell."""
        values = [v for v in ratios.values() if v == v]
        if not values:
            return {"within_class_diversity": float("nan"), "within_class_diversity_worst": float("nan")}
        return {"within_class_diversity": sum(values) / len(values), "within_class_diversity_worst": min(values)}

    @staticmethod
    def warn_if_collapsed(ratios: dict[str, float], step: int, threshold: float) -> None:
        low = {name: v for name, v in ratios.items() if v < threshold}
        if low and step >= WARMUP_STEPS:
            cells = ", ".join(f"{name} {v:.2f}" for name, v in sorted(low.items(), key=lambda kv: kv[1]))
            warnings.warn(
                f"possible mode collapse at step {step}: within {len(low)} of {len(ratios)} condition cells the "
                f"fixed-noise samples vary less than {threshold}x as much as the cell's real photos ({cells}); the "
                f"generator may be ignoring z. Try train.diversity_weight or a family that feeds z to every block.",
                ModeCollapseWarning, stacklevel=3)
