"""`gig generate`: a registered model (or a train output) -> display-ready product images (one PNG
each, post-processed by gig_core/postprocess.py unless --raw) and a labelled grid of them.

It goes through the same pyfunc `predict` that MLflow serving uses, so what you see here is
what the shop's service returns.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from PIL import Image

from gig_core.atomic import atomic_dir, write_json
from gig_core.config import GenerateConfig, PostprocessConfig
from gig_core.errors import GigError
from gig_core.layout import TrainOutputs
from gig_core.registry.loading import NotAGigModel, is_model_uri, load_generator
from gig_core.registry.pyfunc import GeneratorPyfunc
from gig_core.sampling import GeneratorBundle, labelled_grid, shorten_label
from gig_core.serving.requests import REALISM_DRAWS, request_fields

GRID, MANIFEST = "grid.png", "manifest.json"
GRID_THUMB = 160  # long side of an image in grid.png, pixels


def load_bundle(model: str, tracking_uri: str) -> GeneratorBundle:
    """A GIG generator from a train output (folder or .pt), a models:/ or runs:/ URI or an MLflow model folder,
    read weights-only."""
    path = Path(model)
    if path.is_dir() and TrainOutputs(path).generator.is_file():
        path = TrainOutputs(path).generator
    if path.suffix == ".pt" and path.is_file():
        return GeneratorBundle.load(path)
    if is_model_uri(model) or (path / "MLmodel").is_file():
        return load_generator(model, tracking_uri)
    raise FileNotFoundError(f"no model at {model!r}: give a models:/NAME@ALIAS URI, an MLflow model folder or a "
                            f"train output (a folder with generator.pt, or the file)")


Predict = Callable[[pd.DataFrame, dict | None], pd.DataFrame]


def load_predict(model: str, tracking_uri: str, trust_model_code: bool = False,
                 display: PostprocessConfig | None = None) -> tuple[Predict, list[str]]:
    """(predict(frame, params), input column names) of a registry/run URI, an MLflow model folder or a
    train output.

    GIG's models are read weights-only and sampled by this checkout's code (post-processed with
    `display`); a model that is not GIG's runs its own code, so it loads only with trust_model_code.
    """
    try:
        bundle = load_bundle(model, tracking_uri)
    except NotAGigModel as error:
        if not trust_model_code:
            raise NotAGigModel(f"{error}: pass --trust-model-code if you trust whoever wrote it") from None
        mlflow.set_tracking_uri(tracking_uri)
        loaded = mlflow.pyfunc.load_model(model)  # runs the model's code: the user said they trust it
        return (lambda frame, params=None: loaded.predict(frame)), loaded.metadata.get_input_schema().input_names()
    local = GeneratorPyfunc(bundle, display)
    inputs = [*request_fields(bundle.arch), "seed", "count"]
    return (lambda frame, params=None: local.predict(None, frame, params)), inputs


@dataclass
class GeneratedImages:
    folder: Path
    images: list[Path]
    grid: Path


def _check_out_folder(out: Path) -> None:
    """Refuse to replace a folder that `gig generate` did not write (the whole folder is replaced)."""
    if out.is_file() or out.suffix.lower() == ".png":
        raise GigError(f"generate.out: {out} is a file name; give a folder, e.g. {out.with_suffix('')} "
                       f"(it gets one PNG per image and grid.png)")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise GigError(f"generate.out: {out} holds files that gig generate did not write, and would be replaced; "
                       f"give a new or empty folder")


def generate_images_to(config: GenerateConfig, attributes: dict[str, str],
                       display: PostprocessConfig | None = None, titles: list[str] | None = None) -> GeneratedImages:
    """Write config.n images (post-processed unless config.raw) as 000.png... and a labelled grid.png
    into config.out, replaced whole so a failed run leaves the previous folder. A title model (tgan)
    takes `titles` instead of attributes: config.n images per title, one grid row each."""
    out = Path(config.out)
    _check_out_folder(out)
    display = display or PostprocessConfig()
    predict, inputs = load_predict(config.model, config.tracking_uri, config.trust_model_code, display)
    if "title" in inputs:
        if not titles:
            raise ValueError('this model draws from product titles: give --title "Men Navy Blue Casual Shirt" '
                             '(repeatable)')
        if attributes:
            raise ValueError(f"this model draws from titles alone; drop --attr {sorted(attributes)}")
    else:
        if titles:
            raise ValueError(f"this model does not read titles; it is conditioned on {inputs[:-2] or 'nothing'} "
                             f"(--attr KEY=VALUE)")
        unknown = sorted(set(attributes) - set(inputs))
        if unknown:
            raise ValueError(
                f"the model does not take attribute(s) {unknown}; it is conditioned on {inputs[:-2] or 'nothing'}"
            )
    params = {"postprocess": not config.raw, "size": config.size or display.size,
              "realism_filter": config.realism_filter, "truncation": config.truncation}
    asks = [{"title": t} for t in titles] if titles else [attributes]
    response = predict(pd.DataFrame([{**a, "seed": config.seed, "count": config.n} for a in asks]), params)
    pictures = [Image.open(io.BytesIO(png)).convert("RGB") for png in response["png"]]
    names = [f"{i:03d}.png" for i in range(len(pictures))]
    if titles:  # one row per title, labelled with it
        columns, row_labels = config.n, [shorten_label(t) for t in titles]
        asked = f"{len(titles)} titles x {config.n} images"
    else:
        columns = config.columns
        row_labels = [names[i].removesuffix(".png") for i in range(0, len(names), columns)]  # each row's first file
        asked = ", ".join(f"{k}={v}" for k, v in attributes.items()) or "random attributes"
    if config.realism_filter:
        asked += f"; the best {len(names)} of {REALISM_DRAWS * len(names)} by realism"
    if config.truncation:
        asked += f"; truncation {config.truncation:g}"
    with atomic_dir(out) as folder:
        for name, picture in zip(names, pictures):
            picture.save(folder / name, format="PNG")
        thumbs = [np.asarray(p.resize(_thumb_size(p.size))) for p in pictures]
        batch = torch.from_numpy(np.stack(thumbs)).permute(0, 3, 1, 2)  # (n, 3, h, w) uint8
        labelled_grid(batch, columns, row_labels, title=f"{asked}; seed {config.seed}").save(folder / GRID)
        realism = [None if pd.isna(r) else round(float(r), 4) for r in response.get("realism", [None] * len(names))]
        manifest = {"model": config.model, "attributes": attributes, "seed": config.seed,
                    "postprocessed": not config.raw, "realism_filter": config.realism_filter,
                    "truncation": config.truncation, "images": names,
                    "realism": dict(zip(names, realism))}
        if titles:
            manifest["titles"] = [{"title": t, "images": names[i * config.n:(i + 1) * config.n]}
                                  for i, t in enumerate(titles)]
        write_json(folder / MANIFEST, manifest)
    return GeneratedImages(out, [out / name for name in names], out / GRID)



def _thumb_size(size: tuple[int, int], long_side: int = GRID_THUMB) -> tuple[int, int]:
    """A grid cell for an image of `size`: at most `long_side` pixels on its long side, never enlarged."""
    scale = min(1.0, long_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
