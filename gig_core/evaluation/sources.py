"""What gets evaluated: a generator (train output, checkpoint, registry URI) or a folder of
images from any tool, so every model is compared on the same footing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gig_core.config import EvaluateConfig
from gig_core.data.pixels import to_rgb
from gig_core.data.preprocess import square_resize
from gig_core.errors import GigError
from gig_core.layout import TrainOutputs
from gig_core.registry.loading import NotAGigModel, is_model_uri, load_generator
from gig_core.sampling import GeneratorBundle
from gig_core.torch_files import read_torch_file

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


class SampleSourceError(GigError):
    """The configured model or sample folder cannot be read."""


@dataclass
class SampleSource:
    name: str  # what was scored, as the report names it
    bundle: GeneratorBundle | None = None  # a generator: samples follow the held-out attribute mix
    images: torch.Tensor | None = None  # (N, 3, R, R) uint8 from a folder: unlabelled


def load_generator_file(path: Path) -> GeneratorBundle:
    """generator.pt (a train output) or checkpoint.pt (its EMA generator)."""
    state = read_torch_file(
        path, "generator or checkpoint", "give a generator.pt or checkpoint.pt written by gig train"
    )
    if "state_dict" in state and "arch" in state:
        return GeneratorBundle.from_state(state["arch"], state["state_dict"])
    if "ema" in state and "arch" in state:
        return GeneratorBundle.from_state(state["arch"], state["ema"])
    raise SampleSourceError(f"{path} is neither a generator.pt nor a checkpoint.pt written by gig train")


def load_image_folder(folder: Path, resolution: int) -> torch.Tensor:
    """Every image under `folder` (recursively), padded square on white and resized: (N, 3, R, R) uint8."""
    if not folder.is_dir():
        raise SampleSourceError(f"evaluate.samples: {folder} is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    images, unreadable = [], []
    for path in files:
        try:
            with Image.open(path) as image:
                pixels = np.asarray(to_rgb(image))  # (h, w, 3)
            images.append(torch.from_numpy(pixels.copy()).permute(2, 0, 1))
        except (UnidentifiedImageError, OSError) as error:
            unreadable.append(f"{path.name} ({error})")
    if unreadable:
        raise SampleSourceError(
            f"evaluate.samples: {len(unreadable)} unreadable image(s) in {folder}: {'; '.join(unreadable[:5])}"
        )
    if len(images) < 2:
        raise SampleSourceError(
            f"evaluate.samples: {folder} holds {len(images)} image(s) ({sorted(IMAGE_SUFFIXES)}); need at least 2"
        )
    return square_resize(images, resolution).contiguous()


def open_sample_source(config: EvaluateConfig, resolution: int) -> SampleSource:
    if config.samples and config.model:
        raise SampleSourceError("give evaluate.samples (a folder) or evaluate.model (a generator), not both")
    if config.samples:
        return SampleSource(f"images in {config.samples}", images=load_image_folder(Path(config.samples), resolution))
    spec = config.model or str(TrainOutputs(config.train_dir).generator)
    path = Path(spec)
    if is_model_uri(spec) or (path / "MLmodel").is_file():  # a registered model: its weights, never its code
        try:
            return SampleSource(spec, bundle=load_generator(spec, config.tracking_uri, scorer=False))
        except NotAGigModel as error:
            raise NotAGigModel(f"{error}; to score another tool's model, write its images to a folder and give "
                               f"--samples DIR") from None
    if path.is_dir():
        path = TrainOutputs(path).generator
    if not path.is_file():
        raise FileNotFoundError(
            f"no generator at {path}: run gig train, or give --model (models:/NAME@ALIAS, a "
            f"generator.pt or checkpoint.pt) or --samples DIR"
        )
    return SampleSource(str(path), bundle=load_generator_file(path))
