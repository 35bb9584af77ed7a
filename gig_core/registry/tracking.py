"""The MLflow experiment every stage logs to, created with artifacts inside the project."""

from __future__ import annotations

from pathlib import Path

import mlflow

DEFAULT_ARTIFACT_DIR = "mlartifacts"


def _as_uri(location: str) -> str:
    return location if "://" in location else Path(location).resolve().as_uri()


def experiment_id(name: str, artifact_dir: str = DEFAULT_ARTIFACT_DIR) -> str:
    """The id of experiment `name`, creating it (artifacts under artifact_dir) when it is new."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow.create_experiment(name, artifact_location=_as_uri(artifact_dir))
