"""The MLflow experiment every stage logs to, created with artifacts inside the project."""

from __future__ import annotations

from pathlib import Path

import mlflow

DEFAULT_ARTIFACT_DIR = "mlartifacts"


def _as_uri(location: str) -> str:
    return location if "://" in location else Path(location).resolve().as_uri()


def experiment_id(name: str, artifact_dir: str = DEFAULT_ARTIFACT_DIR) -> str:
    """The id of experiment `name`, creating it when it is new: with artifacts under artifact_dir
    for a local store, or where a tracking server keeps them (it proxies uploads, e.g. to S3)."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    server = mlflow.get_tracking_uri().startswith(("http://", "https://"))
    return mlflow.create_experiment(name, artifact_location=None if server or not artifact_dir else _as_uri(artifact_dir))
