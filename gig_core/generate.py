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
from gig_core.errors import GigError
from gig_core.layout import TrainOutputs
from gig_core.registry.loading import NotAGigModel, is_model_uri, load_generator
from gig_core.registry.pyfunc import GeneratorPyfunc
from gig_core.sampling import GeneratorBundle, labelled_grid, save_png


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


def load_predict(model: str, tracking_uri: str,
                 trust_model_code: bool = False) -> tuple[Callable[[pd.DataFrame], pd.DataFrame], list[str]]:
    """(predict, input column names) of a registry/run URI, an MLflow model folder or a train output.

    GIG's models are read weights-only and sampled by this checkout's code; a model that is
    not GIG's runs its own code, so it loads only with trust_model_code.
    """
    try:
        bundle = load_bundle(model, tracking_uri)
    except NotAGigModel as error:
        if not trust_model_code:
            raise NotAGigModel(f"{error}: pass --trust-model-code if you trust whoever wrote it") from None
        mlflow.set_tracking_uri(tracking_uri)
        loaded = mlflow.pyfunc.load_model(model)  # runs the model's code: the user said they trust it
        return loaded.predict, loaded.metadata.get_input_schema().input_names()
    local = GeneratorPyfunc(bundle)
    return (lambda frame: local.predict(None, frame)), [*bundle.arch.vocab, "seed", "count"]


def generate_grid(config: GenerateConfig, attributes: dict[str, str]) -> Path:
    out = Path(config.out)
    if out.is_dir():
        raise GigError(f"generate.out: {out} is a folder; give the grid's file name, e.g. {out / 'grid.png'}")
    predict, inputs = load_predict(config.model, config.tracking_uri, config.trust_model_code)
    unknown = sorted(set(attributes) - set(inputs))
    if unknown:
        raise ValueError(
            f"the model does not take attribute(s) {unknown}; it is conditioned on {inputs[:-2] or 'nothing'}"
        )
    response = predict(pd.DataFrame([{**attributes, "seed": config.seed, "count": config.n}]))
    images = [np.asarray(Image.open(io.BytesIO(png)).convert("RGB")) for png in response["png"]]
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)  # (n, 3, R, R) uint8
    asked = ", ".join(f"{k}={v}" for k, v in attributes.items()) or "random attributes"
    save_png(labelled_grid(batch, config.columns, title=f"{asked}; seed {config.seed}"), out)
    return out
