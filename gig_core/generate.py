"""`gig generate`: a registered model (or a train output) -> a PNG grid of product images.

It goes through the same pyfunc `predict` that MLflow serving uses, so what you see here is
what the shop's service returns.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from PIL import Image

from gig_core.config import GenerateConfig
from gig_core.registry.pyfunc import GeneratorPyfunc
from gig_core.sampling import GeneratorBundle, grid_image, save_png
from gig_core.training.trainer import GENERATOR_FILE


def load_predict(model: str, tracking_uri: str) -> tuple[Callable[[pd.DataFrame], pd.DataFrame], list[str]]:
    """(predict, input column names) of a registry/run URI, an MLflow model folder or a train output."""
    path = Path(model)
    if path.is_dir() and (path / GENERATOR_FILE).is_file():
        path = path / GENERATOR_FILE
    if path.suffix == ".pt" and path.is_file():
        bundle = GeneratorBundle.load(path)
        local = GeneratorPyfunc(bundle)
        return (lambda frame: local.predict(None, frame)), [*bundle.arch.vocab, "seed", "count"]
    if not (path.is_dir() and (path / "MLmodel").is_file()) and ":/" not in model:
        raise FileNotFoundError(f"no model at {model!r}: give a models:/NAME@ALIAS URI, an MLflow model folder or a train output")
    mlflow.set_tracking_uri(tracking_uri)
    loaded = mlflow.pyfunc.load_model(model)
    return loaded.predict, loaded.metadata.get_input_schema().input_names()


def generate_grid(config: GenerateConfig, attributes: dict[str, str]) -> Path:
    predict, inputs = load_predict(config.model, config.tracking_uri)
    unknown = sorted(set(attributes) - set(inputs))
    if unknown:
        raise ValueError(f"the model does not take attribute(s) {unknown}; it is conditioned on {inputs[:-2] or 'nothing'}")
    response = predict(pd.DataFrame([{**attributes, "seed": config.seed, "count": config.n}]))
    images = [np.asarray(Image.open(io.BytesIO(png)).convert("RGB")) for png in response["png"]]
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)  # (n, 3, R, R) uint8
    out = Path(config.out)
    save_png(grid_image(batch, config.columns), out)
    return out
