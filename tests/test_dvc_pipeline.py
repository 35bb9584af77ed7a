"""The real dvc.yaml and params.yaml, run by DVC on the tiny catalog in a scratch git repo."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from tests.conftest import REPO

STAGES = ["ingest", "preprocess", "train", "evaluate", "register"]


def _run(args: list[str], cwd: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
    }
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _dvc(*args: str, cwd: Path) -> str:
    return _run([sys.executable, "-m", "dvc", *args], cwd)


def _stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


@pytest.mark.slow
def test_dvc_repro_runs_everything_once_then_only_what_changed(tmp_path, tiny_catalog, s3_endpoint):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "dvc.yaml", project)
    (project / ".gitignore").write_text((REPO / ".gitignore").read_text() + "/.venv\n")  # here a symlink
    shutil.copytree(REPO / "gig_core", project / "gig_core", ignore=shutil.ignore_patterns("__pycache__"))
    (project / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the stages run .venv/bin/gig
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["preprocess"]["holdout_fraction"] = 0.25
    params["train"].update(
        g_channels=16, d_channels=16, z_dim=32, embed_dim=8, steps=20, batch_size=16, sample_every=10
    )
    params["evaluate"].update(extractor_steps=50, min_cell_images=4)  # the tiny catalog's cells are small
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(tiny_catalog, project / "data")
    _run(["git", "init", "-q"], project)
    _dvc("init", "-q", cwd=project)
    _dvc("add", "-q", "data", cwd=project)

    assert _stages_run(_dvc("repro", cwd=project)) == STAGES
    assert "Data and pipelines are up to date" in _dvc("status", cwd=project)
    assert _stages_run(_dvc("repro", cwd=project)) == []

    params["train"]["steps"] = 30
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert _stages_run(_dvc("repro", cwd=project)) == ["train", "evaluate", "register"]
    assert "Data and pipelines are up to date" in _dvc("status", cwd=project)

    metrics = _dvc("metrics", "show", cwd=project)
    assert "fid" in metrics and "kid_mean" in metrics and "fid_ci_low" in metrics and "precision" in metrics
    assert "within_class_diversity" in metrics and "fingerprint" not in metrics  # the headline figures only

    # Editing the code a stage runs makes that stage (and what follows) stale.
    trainer = project / "gig_core" / "training" / "trainer.py"
    trainer.write_text(trainer.read_text() + "\n# an edit\n")
    status = _dvc("status", cwd=project)
    assert "train:" in status and "ingest:" not in status and "preprocess:" not in status
    trainer.write_text(trainer.read_text().removesuffix("\n# an edit\n"))

    # An experiment with one train key changed, shown next to the workspace with its metrics.
    _run(["git", "add", "-A"], project)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline"], project)
    _dvc("exp", "run", "-S", "train.steps=50", "-S", "train.lr_g=0.0003", cwd=project)
    table = _dvc("exp", "show", "--md", cwd=project)
    header = table.splitlines()[0]
    assert "fid" in header and "within_class_diversity" in header and "train.steps" in header, header
    assert any("50" in row and "0.0003" in row for row in table.splitlines()[2:]), table
    plots = _dvc("plots", "show", "--json", cwd=project)
    for figure in ("samples", "real", "nearest_pairs", "interpolations", "within_class", "postprocess"):
        assert f"outputs/evaluate/report/{figure}.png" in plots  # the report's figures are DVC plots
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    versions = client.search_model_versions("name='gig-generator'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3]  # the experiment registered v3
    challenger = client.get_model_version_by_alias("gig-generator", "challenger")
    assert challenger.version in (3, "3")
    # register logged into the training's own run, next to its per-step metrics
    assert len(client.get_metric_history(challenger.run_id, "loss_d")) > 1
    assert "fid" in client.get_run(challenger.run_id).data.metrics
    # the run's within_class_diversity is the evaluation's; the collapse guard's per-step estimate has its own name
    evaluated = json.loads((project / "outputs" / "evaluate" / "metrics.json").read_text())["within_class_diversity"]
    assert client.get_run(challenger.run_id).data.metrics["within_class_diversity"] == pytest.approx(evaluated)
    assert len(client.get_metric_history(challenger.run_id, "guard_within_class_diversity")) > 1
    logged = [a.path for a in client.list_artifacts(challenger.run_id, "evaluation")]
    assert "evaluation/report.html" in logged and "evaluation/report" in logged  # the report, in MLflow
    # Lineage: DVC's hash of data/ and the catalog's content hash on the version, the catalog as its input.
    data_md5 = yaml.safe_load((project / "data.dvc").read_text())["outs"][0]["md5"]
    assert challenger.tags["catalog_dvc_md5"] == data_md5 and challenger.tags["family"] == "hcgan"
    dataset = client.get_run(challenger.run_id).inputs.dataset_inputs[0].dataset
    assert dataset.name == "catalog" and challenger.tags["catalog_sha256"].startswith(dataset.digest)
    assert "GIG demo done" in _run([str(project / ".venv" / "bin" / "gig"), "summary"], project)

    # The DVC remote on S3 (moto over HTTP): push, lose the cache and every cached output, pull back.
    import boto3

    boto3.client("s3").create_bucket(Bucket="gig-dvc")
    _dvc("remote", "add", "-d", "storage", "s3://gig-dvc/store", cwd=project)
    _dvc("remote", "modify", "storage", "endpointurl", s3_endpoint, cwd=project)
    assert "pushed" in _dvc("push", cwd=project)
    shutil.rmtree(project / ".dvc" / "cache")
    for cached in [
        "data",
        "outputs/ingest",
        "outputs/preprocess",
        "outputs/train/checkpoint.pt",
        "outputs/train/generator.pt",
        "outputs/train/grid.png",
        "outputs/train/samples",
    ]:
        path = project / cached
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    _dvc("pull", cwd=project)
    assert (project / "outputs" / "train" / "generator.pt").is_file()
    assert _stages_run(_dvc("repro", cwd=project)) == []
    assert "Data and pipelines are up to date" in _dvc("status", cwd=project)
