"""Reading a registered generator without running its code.

An MLflow pyfunc model is Python: `mlflow.pyfunc.load_model` executes the model's code, so
whoever can write the registry or its artifact store could run code wherever a model is
loaded. GIG's own models need none of it: their weights sit in the model folder as a
weights-only torch file (`artifacts/generator.pt`, named in MLmodel), which is all that
`gig evaluate`, `gig generate` and `gig register` read. A model that is not GIG's (no such
file) loads only through pyfunc, which the caller must allow explicitly (`--trust-model-code`).
Serving (`mlflow models serve`) always runs the model's code: serve only models you trust.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from gig_core.errors import GigError
from gig_core.evaluation.realism import load_realism_scorer
from gig_core.registry.pyfunc import ARTIFACT_KEY, DETECTOR_KEY, INCEPTION_KEY, REALISM_KEY
from gig_core.sampling import GeneratorBundle
from gig_core.tracking import check_registry


class ModelLoadError(GigError):
    """A model URI or folder that cannot be read as a GIG generator."""


class NotAGigModel(ModelLoadError):
    """An MLflow model without GIG's weights file: only loadable by running its code."""


def is_model_uri(spec: str) -> bool:
    return spec.startswith(("models:/", "runs:/"))


def download_model(uri: str, tracking_uri: str, folder: Path, scorer: bool = True) -> Path:
    """Download the MLmodel file and the generator weights of a models:/ or runs:/ URI into `folder` (with
    `scorer`, the realism scorer's files too).

    Only those two files: the model also carries gig_core's code and its environment files,
    which reading weights does not need.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    check_registry(tracking_uri, must_exist=True)
    mlflow.set_tracking_uri(tracking_uri)
    try:
        repository = get_artifact_repository(uri)
        repository.download_artifacts("MLmodel", str(folder))
        weights = weights_entry(folder)
        if weights:
            repository.download_artifacts(weights, str(folder))
        for key in (DETECTOR_KEY, REALISM_KEY, INCEPTION_KEY) if scorer else ():  # the realism score's parts
            entry = weights_entry(folder, key)
            if entry:
                repository.download_artifacts(entry, str(folder))
    except MlflowException as error:
        message = " ".join(str(error).split())[:300]
        raise ModelLoadError(f"cannot load {uri} from the registry at {tracking_uri}: {message}") from None
    return folder


def weights_entry(folder: Path, key: str = ARTIFACT_KEY) -> str | None:
    """The path of GIG's weights file (or, key=DETECTOR_KEY, the realism detector's) inside an MLflow model
    folder, as its MLmodel names it."""
    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        raise ModelLoadError(f"{folder}: not an MLflow model folder (no MLmodel file)")
    artifacts = (
        (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors", {}).get("python_function", {}).get("artifacts")
    )
    return ((artifacts or {}).get(key) or {}).get("path")


def artifact_file(folder: Path, key: str) -> Path | None:
    """The file MLmodel names for `key`, when it lies inside the folder and exists."""
    entry = weights_entry(folder, key)
    path = folder / entry if entry else None
    return path if path and path.resolve().is_relative_to(folder.resolve()) and path.is_file() else None


def generator_from_folder(folder: Path, scorer: bool = True) -> GeneratorBundle:
    """The generator of an MLflow model folder written by `gig register`, read weights-only; with `scorer`, its
    realism scorer too."""
    weights = artifact_file(folder, ARTIFACT_KEY)
    if weights is None:
        raise NotAGigModel(
            f"{folder}: an MLflow model without a GIG generator file, so loading it would run its code"
        )
    bundle = GeneratorBundle.load(weights)
    detector, realism, inception = (artifact_file(folder, k) for k in (DETECTOR_KEY, REALISM_KEY, INCEPTION_KEY))
    if scorer and detector:
        bundle.realism = load_realism_scorer(detector, realism, inception)
    return bundle


def load_generator(spec: str, tracking_uri: str, scorer: bool = True) -> GeneratorBundle:
    """A GIG generator from a models:/ or runs:/ URI or an MLflow model folder, without running model code.
    scorer=False: for callers that only sample (evaluate, the champion's re-score), which then skip the realism
    scorer's files (the FID network is 87 MB)."""
    if not is_model_uri(spec):
        return generator_from_folder(Path(spec), scorer)
    with tempfile.TemporaryDirectory(prefix="gig-model-") as scratch:
        return generator_from_folder(download_model(spec, tracking_uri, Path(scratch), scorer), scorer)
