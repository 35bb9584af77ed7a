"""The generator as an MLflow pyfunc model.

Input: a DataFrame, one row per request, with a column per conditioning attribute
(articleType, baseColour, ...; empty = random), `seed` and `count`.
Output: a DataFrame with one row per image: `request` (input row), `index` and `png` (bytes).
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from gig_core.sampling import GeneratorBundle
from gig_core.serving.requests import ServingLimits, generate_images, parse_requests

ARTIFACT_KEY = "generator"


class GeneratorPyfunc(mlflow.pyfunc.PythonModel):
    def __init__(self, bundle: GeneratorBundle | None = None):
        self.bundle = bundle

    def load_context(self, context) -> None:
        self.bundle = GeneratorBundle.load(context.artifacts[ARTIFACT_KEY])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """The same checks and limits as `gig serve` (gig_core/serving/requests.py), then the images."""
        rows = pd.DataFrame(model_input).to_dict("records")
        requests = parse_requests(rows, self.bundle.arch.vocab, ServingLimits())
        return pd.DataFrame(generate_images(self.bundle, requests), columns=["request", "index", "png"])


def signature_for(bundle: GeneratorBundle) -> ModelSignature:
    inputs = [ColSpec("string", a, required=False) for a in bundle.arch.vocab]
    inputs += [ColSpec("long", "seed", required=False), ColSpec("long", "count", required=False)]
    outputs = [ColSpec("long", "request"), ColSpec("long", "index"), ColSpec("binary", "png")]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def input_example(bundle: GeneratorBundle) -> pd.DataFrame:
    row = {a: classes[0] for a, classes in bundle.arch.vocab.items()}
    return pd.DataFrame([{**row, "seed": 0, "count": 1}])
