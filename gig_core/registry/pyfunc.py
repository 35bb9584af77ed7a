"""The generator as an MLflow pyfunc model.

Input: a DataFrame, one row per request, with a column per conditioning attribute
(articleType, baseColour, ...; empty = random), or for a title model (tgan) a `title` column
of any words, and `seed` and `count`.
Params: `postprocess` (default true: display-ready, gig_core/postprocess.py), `size` (the
display image's long side; default from the model's config, the project's `postprocess` section) and
`realism_filter` (default false: draw twice as many, keep the half its realism score rates most real) and
`truncation` (default 0, off: noise drawn within +-truncation standard deviations, BigGAN's truncation trick).
Output: a DataFrame with one row per image: `request` (input row), `index`, `png` (bytes) and `realism`
(0-1: the share of the evaluation's samples that look less real, evaluation/realism.py; a model registered
before the combined score has its detector's P(real); NaN for one without a detector).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from gig_core.config import PostprocessConfig, build
from gig_core.evaluation.realism import load_realism_scorer
from gig_core.sampling import GeneratorBundle
from gig_core.serving.requests import (
    ServingLimits,
    check_budget,
    generate_images,
    parse_display,
    parse_requests,
    request_fields,
)

ARTIFACT_KEY = "generator"
DETECTOR_KEY = "detector"  # the C2ST detector of the model's evaluation (models/detector.py)
REALISM_KEY = "realism"  # evaluate's realism.pt: with the detector, the combined score (evaluation/realism.py)
INCEPTION_KEY = "inception"  # the FID network the combined score reads features with (evaluation/inception.py)
EXAMPLE_TITLE = "Men Navy Blue Casual Shirt"
CONFIG_KEY = "postprocess"  # the model_config entry holding the display settings it was registered with


def model_config(display: PostprocessConfig) -> dict:
    return {CONFIG_KEY: dataclasses.asdict(display)}


class GeneratorPyfunc(mlflow.pyfunc.PythonModel):
    def __init__(self, bundle: GeneratorBundle | None = None, display: PostprocessConfig | None = None):
        self.bundle = bundle
        self.display = display or PostprocessConfig()

    def load_context(self, context) -> None:
        self.bundle = GeneratorBundle.load(context.artifacts[ARTIFACT_KEY])
        files = {key: Path(path) for key, path in context.artifacts.items()}
        if DETECTOR_KEY in files:  # the realism score (evaluation/realism.py), when evaluate trained a detector
            self.bundle.realism = load_realism_scorer(files[DETECTOR_KEY], files.get(REALISM_KEY),
                                                      files.get(INCEPTION_KEY))
        settings = (context.model_config or {}).get(CONFIG_KEY)
        self.display = build(PostprocessConfig, settings, "model_config.postprocess") if settings else \
            PostprocessConfig()

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """The same checks and limits as `gig serve` (gig_core/serving/requests.py), then the images."""
        rows = pd.DataFrame(model_input).to_dict("records")
        limits = ServingLimits()
        requests = parse_requests(rows, request_fields(self.bundle.arch), limits)
        display = parse_display(params, self.display, limits)
        check_budget(self.bundle, requests, display, limits)
        images = generate_images(self.bundle, requests, display=display)
        return pd.DataFrame(images, columns=["request", "index", "png", "realism"])


def signature_for(bundle: GeneratorBundle, display: PostprocessConfig | None = None) -> ModelSignature:
    inputs = [ColSpec("string", a, required=False) for a in request_fields(bundle.arch)]
    inputs += [ColSpec("long", "seed", required=False), ColSpec("long", "count", required=False)]
    outputs = [ColSpec("long", "request"), ColSpec("long", "index"), ColSpec("binary", "png"),
               ColSpec("double", "realism")]
    params = ParamSchema([ParamSpec("postprocess", "boolean", True),
                          ParamSpec("size", "long", (display or PostprocessConfig()).size),
                          ParamSpec("realism_filter", "boolean", False),
                          ParamSpec("truncation", "double", 0.0)])
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)


def input_example(bundle: GeneratorBundle) -> pd.DataFrame:
    if bundle.arch.titled:
        row = {"title": EXAMPLE_TITLE}
    else:
        row = {a: classes[0] for a, classes in bundle.arch.vocab.items()}
    return pd.DataFrame([{**row, "seed": 0, "count": 1}])
