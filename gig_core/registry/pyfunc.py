"""The generator as an MLflow pyfunc model.

Input: a DataFrame, one row per request, with a column per conditioning attribute
(articleType, baseColour, ...; empty = random), `seed` and `count`.
Output: a DataFrame with one row per image: `request` (input row), `index` and `png` (bytes).
"""

from __future__ import annotations

import math

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from gig_core.sampling import GeneratorBundle, png_bytes

MAX_IMAGES_PER_REQUEST = 256
ARTIFACT_KEY = "generator"


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value != ""


class GeneratorPyfunc(mlflow.pyfunc.PythonModel):
    def __init__(self, bundle: GeneratorBundle | None = None):
        self.bundle = bundle

    def load_context(self, context) -> None:
        self.bundle = GeneratorBundle.load(context.artifacts[ARTIFACT_KEY])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        out = []
        for request, row in enumerate(frame.to_dict("records")):
            count = int(row["count"]) if _present(row.get("count")) else 1
            seed = int(row["seed"]) if _present(row.get("seed")) else 0
            if not 1 <= count <= MAX_IMAGES_PER_REQUEST:
                raise ValueError(f"count must be between 1 and {MAX_IMAGES_PER_REQUEST}, got {count}")
            wanted = {a: str(row[a]) for a in self.bundle.arch.vocab if _present(row.get(a))}
            labels = self.bundle.encode([wanted] * count, seed=seed) if self.bundle.arch.conditional else None
            images = self.bundle.sample(count, labels, seed=seed)  # (count, 3, R, R) uint8
            out += [{"request": request, "index": i, "png": png_bytes(image)} for i, image in enumerate(images)]
        return pd.DataFrame(out, columns=["request", "index", "png"])


def signature_for(bundle: GeneratorBundle) -> ModelSignature:
    inputs = [ColSpec("string", a, required=False) for a in bundle.arch.vocab]
    inputs += [ColSpec("long", "seed", required=False), ColSpec("long", "count", required=False)]
    outputs = [ColSpec("long", "request"), ColSpec("long", "index"), ColSpec("binary", "png")]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def input_example(bundle: GeneratorBundle) -> pd.DataFrame:
    row = {a: classes[0] for a, classes in bundle.arch.vocab.items()}
    return pd.DataFrame([{**row, "seed": 0, "count": 1}])
