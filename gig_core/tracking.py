"""MLflow runs, shared by train and register: the experiment every stage logs to (artifacts
inside the project), a bounded check that the registry is there before any work starts, the
training run (per-step metrics) that register later reopens, and the cleanup of training runs
that a killed process left RUNNING."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path

import mlflow

from gig_core.atomic import pid_alive
from gig_core.config import TrainConfig
from gig_core.errors import GigError

DEFAULT_ARTIFACT_DIR = "mlartifacts"
SERVER_CHECK_SECONDS = 5.0
OWNER_TAGS = ("gig.out_dir", "gig.host", "gig.pid")  # who writes a training run, to tell a dead writer later


class RegistryUnavailableError(GigError):
    """The configured MLflow tracking server or database is not there."""


def check_registry(tracking_uri: str, must_exist: bool = False) -> None:
    """Fail in seconds, with the URI named, when the registry cannot be used.

    A tracking server gets one GET /health bounded by SERVER_CHECK_SECONDS (MLflow's own client
    retries for about four minutes before it gives up). A sqlite database that must already exist
    (reading a model) is checked on disk: opening it would create an empty one in whatever folder
    the command runs from.
    """
    if tracking_uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(tracking_uri.rstrip("/") + "/health", timeout=SERVER_CHECK_SECONDS):
                return
        except urllib.error.HTTPError as exc:
            raise RegistryUnavailableError(
                f"{tracking_uri}: GET /health answered HTTP {exc.code} ({exc.reason}), so this is not a working MLflow "
                f"tracking server; check the URI, or set tracking_uri to a sqlite:/// file") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryUnavailableError(
                f"{tracking_uri}: the MLflow tracking server does not answer ({reason}); start it, or set tracking_uri "
                f"to a reachable server or a sqlite:/// file") from None
    if must_exist and tracking_uri.startswith("sqlite:///"):
        database = Path(tracking_uri.removeprefix("sqlite:///"))
        if not database.is_file():
            raise RegistryUnavailableError(
                f"{tracking_uri}: no MLflow database at {database.resolve()}; run from the project folder that holds "
                f"it, or give its absolute path (sqlite:////abs/path/mlflow.db)")


def _as_uri(location: str) -> str:
    return location if "://" in location else Path(location).resolve().as_uri()


def owner_tags(out_dir: str | Path) -> dict[str, str]:
    return dict(zip(OWNER_TAGS, (str(Path(out_dir).resolve()), socket.gethostname(), str(os.getpid()))))


def close_abandoned_runs(experiment: str, out_dir: str | Path) -> list[str]:
    """Mark KILLED the RUNNING training runs of `out_dir` whose process on this host is gone.

    SIGKILL and power loss give a process no chance to end its run; without this the run shows
    RUNNING forever. Runs written from another host are left alone: their process cannot be
    checked from here.
    """
    tags = owner_tags(out_dir)
    runs = mlflow.search_runs(
        experiment_ids=[experiment],
        output_format="list",
        filter_string=f"attributes.status = 'RUNNING' and tags.`gig.out_dir` = '{tags['gig.out_dir']}'",
    )
    closed = []
    for run in runs:
        pid = run.data.tags.get("gig.pid", "")
        if run.data.tags.get("gig.host") == tags["gig.host"] and pid.isdigit() and not pid_alive(int(pid)):
            mlflow.MlflowClient().set_terminated(run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
    return closed


def experiment_id(name: str, artifact_dir: str = DEFAULT_ARTIFACT_DIR) -> str:
    """The id of experiment `name`, creating it when it is new: with artifacts under artifact_dir
    for a local store, or where a tracking server keeps them (it proxies uploads, e.g. to S3)."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    server = mlflow.get_tracking_uri().startswith(("http://", "https://"))
    return mlflow.create_experiment(
        name, artifact_location=None if server or not artifact_dir else _as_uri(artifact_dir)
    )


class TrainingRun:
    """The MLflow run of one training: per-step metrics now, evaluation and registration later
    (register reopens it by the id that train.json records)."""

    def __init__(self, config: TrainConfig):
        check_registry(config.tracking_uri)
        mlflow.set_tracking_uri(config.tracking_uri)
        experiment = experiment_id(config.experiment)
        close_abandoned_runs(experiment, config.out_dir)  # a run of this out_dir that a SIGKILL left RUNNING
        self.run = mlflow.start_run(
            experiment_id=experiment, run_name=f"train-{config.model}", tags=owner_tags(config.out_dir)
        )
        self.run_id = self.run.info.run_id
        mlflow.log_params({k: v for k, v in asdict(config).items() if not isinstance(v, dict)})

    def log(self, metrics: dict[str, float], step: int) -> None:
        mlflow.log_metrics(metrics, step=step)

    def finish(self, status: str) -> None:
        mlflow.end_run(status=status)


def reopen_training_run(run_id: str, run_tracking_uri: str, tracking_uri: str, experiment: str,
                        artifact_dir: str) -> mlflow.ActiveRun:
    """The training run when it was logged to this registry (so its loss curves sit beside the
    evaluation), else a new run in `experiment`."""
    if run_id and run_tracking_uri == tracking_uri:
        return mlflow.start_run(run_id=run_id)
    return mlflow.start_run(experiment_id=experiment_id(experiment, artifact_dir))
