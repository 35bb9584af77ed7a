"""Sampling and post-processing: a trained generator turned into product images.

`GeneratorBundle` is the deployable unit: generator weights (the EMA copy) plus the
`Architecture` record with the label vocabularies, saved as one weights-only torch file. The
trainer exports it, evaluation and the MLflow model load it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn
from torchvision.utils import make_grid

from gig_core.atomic import atomic_file
from gig_core.device import module_device
from gig_core.models import Architecture, build_generator
from gig_core.torch_files import read_torch_file


class UnknownAttributeError(ValueError):
    """A requested attribute value the model was not trained on."""


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, 3, H, W) uint8."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> (B, 3, H, W) float in [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


def grid_image(images: torch.Tensor, columns: int) -> Image.Image:
    """(B, 3, H, W) uint8 -> one PIL grid with `columns` images per row on a white border."""
    grid = make_grid(images, nrow=columns, padding=2, pad_value=255)  # (3, H', W') uint8
    return Image.fromarray(grid.permute(1, 2, 0).numpy())


def labelled_grid(images: torch.Tensor, columns: int, row_labels: Sequence[str] = (), title: str = "") -> Image.Image:
    """grid_image with each row's label on its left and an optional title line above, black on white."""
    grid = grid_image(images, columns)
    if not row_labels and not title:
        return grid
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(grid)
    width = max((measure.textlength(label, font=font) for label in row_labels), default=0)
    left = int(width) + 8 if row_labels else 0
    top = 16 if title else 0
    canvas = Image.new("RGB", (grid.width + left, grid.height + top), "white")
    canvas.paste(grid, (left, top))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((left + 2, 2), title, fill="black", font=font)
    pitch = images.shape[-2] + 2  # make_grid's 2px padding
    for row, label in enumerate(row_labels):
        draw.text((4, top + 2 + row * pitch + pitch // 2), label, fill="black", font=font, anchor="lm")
    return canvas


def shorten_label(label: str, limit: int = 40) -> str:
    """A grid row label that fits beside the images: a long title ends in '...'."""
    return label if len(label) <= limit else label[:limit - 3] + "..."


def save_png(image: Image.Image, path: str | Path) -> None:
    with atomic_file(path) as handle:
        image.save(handle, format="PNG")


def png_bytes(image: torch.Tensor) -> bytes:
    """(3, H, W) uint8 -> PNG file bytes."""
    return save_png_bytes(Image.fromarray(image.permute(1, 2, 0).numpy()))


def save_png_bytes(image: Image.Image) -> bytes:
    """A PIL image -> PNG file bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class SampleScorer(Protocol):
    """How real a model's samples look: models/detector.py (the C2ST detector alone, for models registered before
    the combined score) or evaluation/realism.py (detector and Inception realism score together)."""

    def score_samples(self, images: torch.Tensor, display) -> torch.Tensor:
        """(N, 3, R, R) uint8 generator output, PostprocessConfig -> (N,) higher: more real; what the filter ranks."""
        ...

    def readable(self, scores: torch.Tensor) -> torch.Tensor:
        """score_samples' output -> (N,) in [0, 1], higher: more real; what a person reads."""
        ...


@dataclass
class GeneratorBundle:
    generator: nn.Module
    arch: Architecture
    realism: SampleScorer | None = None  # a registered model's realism scorer, if it has one

    @classmethod
    def load(cls, path: str | Path, map_location: str = "cpu") -> "GeneratorBundle":
        data = read_torch_file(path, "generator file", "give a generator.pt written by gig train",
                               map_location=map_location)
        return cls.from_state(data["arch"], data["state_dict"])

    @classmethod
    def from_state(cls, arch: dict, state_dict: dict) -> "GeneratorBundle":
        """A generator from its architecture dict and weights (generator.pt, or a checkpoint's EMA)."""
        arch = Architecture(**arch)
        generator = build_generator(arch)
        generator.load_state_dict(state_dict)
        return cls(generator.eval(), arch)

    def to(self, device: torch.device | str) -> "GeneratorBundle":
        """Move the generator (in place) to `device`; samples still come back on the CPU."""
        self.generator.to(device)
        return self

    def save(self, path: str | Path) -> None:
        with atomic_file(path) as handle:
            torch.save({"arch": self.arch.to_dict(), "state_dict": self.generator.state_dict()}, handle)

    def encode(
        self, rows: Sequence[Mapping[str, str]], unknown: str = "error", seed: int = 0
    ) -> dict[str, torch.Tensor]:
        """Attribute values -> label indices, one row per image.

        An attribute the model is not conditioned on is ignored; a missing one is drawn at
        random. An unknown value raises, or with unknown="random" is drawn at random too
        (used when an older champion is scored on a newer catalog). A title model (tgan) reads
        each row's "title" instead: any words, seen in training or not.
        """
        if self.arch.titled:
            return self.encode_titles(rows, strict=unknown != "random")
        rng = torch.Generator().manual_seed(seed)
        labels: dict[str, torch.Tensor] = {}
        for attribute, classes in self.arch.vocab.items():
            index = {name: i for i, name in enumerate(classes)}
            values = []
            for row in rows:
                value = row.get(attribute)
                if value in (None, "") or (value not in index and unknown == "random"):
                    values.append(int(torch.randint(len(classes), (1,), generator=rng)))
                elif value not in index:
                    raise UnknownAttributeError(
                        f"{attribute}={value!r} is not one the model was trained on; known values: {classes}"
                    )
                else:
                    values.append(index[value])
            labels[attribute] = torch.tensor(values, dtype=torch.int64)
        return labels

    def encode_titles(self, rows: Sequence[Mapping[str, str]], strict: bool = True) -> dict[str, torch.Tensor]:
        """Each row's "title" -> {"title": (N, D) title vectors}; strict: a row without words is an error."""
        titles = [str(row.get("title") or "") for row in rows]
        vectors = self.generator.title.encode(titles)  # (N, D); a title without words is a zero vector
        if strict:
            empty = [i for i, v in enumerate(vectors) if not v.any()]
            if empty:
                raise UnknownAttributeError(
                    f"this model draws from a product title, and request row {empty[0]} has none with a word "
                    f"(got {titles[empty[0]]!r}); give a title such as 'Men Navy Blue Casual Shirt'"
                )
        return {"title": vectors}

    @torch.no_grad()
    def sample(
        self, n: int, labels: Mapping[str, torch.Tensor] | None = None, seed: int = 0, batch_size: int = 256
    ) -> torch.Tensor:
        """(n, 3, R, R) uint8 images; the same (labels, seed) always gives the same images."""
        if self.arch.conditional and labels is None:
            raise ValueError("a conditional generator needs labels; see GeneratorBundle.encode")
        return self.from_latents(self.latents(n, seed), labels, batch_size)

    def latents(self, n: int, seed: int = 0, truncation: float = 0.0) -> torch.Tensor:
        """(n, z_dim) noise of `seed`: what sample() draws, for callers that generate in their own chunks.
        truncation > 0: every value within +-truncation (BigGAN's truncation trick, Brock et al. 2019: fewer
        draws from the tails, so more typical and less varied images); 0: the plain normal the model trained on."""
        rng = torch.Generator().manual_seed(seed)
        if truncation <= 0:
            return torch.randn(n, self.arch.z_dim, generator=rng)
        return torch.nn.init.trunc_normal_(torch.empty(n, self.arch.z_dim), 0.0, 1.0, -truncation, truncation,
                                           generator=rng)

    @torch.no_grad()
    def from_latents(
        self, z: torch.Tensor, labels: Mapping[str, torch.Tensor] | None = None, batch_size: int = 256
    ) -> torch.Tensor:
        """(n, z_dim) latents -> (n, 3, R, R) uint8 images, in eval mode."""
        if self.arch.conditional and labels is None:
            raise ValueError("a conditional generator needs labels; see GeneratorBundle.encode")
        device = module_device(self.generator)
        was_training = self.generator.training
        self.generator.eval()
        chunks = []
        for start in range(0, len(z), batch_size):
            part = {a: t[start : start + batch_size].to(device) for a, t in (labels or {}).items()}
            chunks.append(to_uint8(self.generator(z[start : start + batch_size].to(device), part or None)).cpu())
        self.generator.train(was_training)
        return (
            torch.cat(chunks)
            if chunks
            else torch.empty(0, 3, self.arch.resolution, self.arch.resolution, dtype=torch.uint8)
        )


def title_grid_rows(arch: Architecture, titles: Sequence[str], reference: Mapping[str, torch.Tensor],
                    seed: int = 0) -> list[str]:
    """For a title model's grid: one title per class of the first attribute, drawn from the
    `titles` of that class in `reference` ((N,) class indices per attribute); a class without
    photos is left out."""
    rng = torch.Generator().manual_seed(seed)
    first = next(iter(arch.vocab))
    picked = []
    for c in range(len(arch.vocab[first])):
        rows = torch.nonzero(reference[first] == c).flatten()
        if len(rows):
            picked.append(titles[int(rows[torch.randint(len(rows), (1,), generator=rng)])])
    return picked


def class_grid_labels(
    arch: Architecture, columns: int, reference: Mapping[str, torch.Tensor] | None = None, seed: int = 0
) -> dict[str, torch.Tensor] | None:
    """Labels for a grid with one row per class of the first conditioning attribute.

    The other attributes of each cell are copied from a random real row of that class in
    `reference` (so a row of watches shows watch colours), or drawn uniformly without it.
    """
    if not arch.conditional:
        return None
    rng = torch.Generator().manual_seed(seed)
    first = next(iter(arch.vocab))
    picks: dict[str, list[torch.Tensor]] = {a: [] for a in arch.vocab}
    for c in range(len(arch.vocab[first])):
        rows = None if reference is None else torch.nonzero(reference[first] == c).flatten()
        chosen = None if rows is None or not len(rows) else rows[torch.randint(len(rows), (columns,), generator=rng)]
        for attribute, classes in arch.vocab.items():
            if attribute == first:
                picks[attribute].append(torch.full((columns,), c))
            elif chosen is not None:
                picks[attribute].append(reference[attribute][chosen])
            else:
                picks[attribute].append(torch.randint(len(classes), (columns,), generator=rng))
    return {a: torch.cat(parts) for a, parts in picks.items()}
