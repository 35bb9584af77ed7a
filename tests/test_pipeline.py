"""The Kubeflow pipeline: its compiled YAML is current and asks for what production needs, and
the whole pipeline runs locally (kfp.local, no cluster) against a real `mlflow server` whose
artifacts go to S3 (moto's server over HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from mlflow import MlflowClient

from pipelines.compile import COMPILED, compile_pipeline
from pipelines.schedule import parse_args, recurring_run_request
from tests.conftest import _free_port, wait_for_http


def test_compiled_yaml_is_up_to_date(tmp_path):
    fresh = compile_pipeline(tmp_path / "gig_pipeline.yaml").read_text()
    assert COMPILED.read_text() == fresh, (
        "pipelines/gig_pipeline.yaml is stale: run .venv/bin/python -m pipelines.compile"
    )


def test_compiled_yaml_asks_for_gpu_secrets_and_no_cache_for_ingest():
    docs = list(yaml.safe_load_all(COMPILED.read_text()))
    spec, platform = docs[0], docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["ingest"]["cachingOptions"] == {} and tasks["train"]["cachingOptions"] == {"enableCache": True}
    train = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert "accelerator" in train["resources"]
    assert "nodeSelector" in platform["exec-train"] and "tolerations" in platform["exec-train"]
    for step in ("exec-ingest", "exec-train", "exec-register"):
        secrets = {s["secretName"] for s in platform[step]["secretAsEnv"]}
        assert secrets == {"gig-s3", "gig-mlflow"}
    assert all(e["container"]["image"] == "gig:0.1.0" for e in spec["deploymentSpec"]["executors"].values())


def test_recurring_run_is_one_at_a_time_without_catch_up():
    request = recurring_run_request(
        parse_args(
            [
                "--host",
                "http://kfp",
                "--catalog-uri",
                "s3://shop/catalog/",
                "--mlflow-tracking-uri",
                "http://mlflow",
                "--param",
                "steps=3000",
                "--param",
                "model_family=wgan-gp",
            ]
        )
    )
    assert request["max_concurrency"] == 1 and request["no_catchup"] is True
    assert request["cron_expression"] == "0 0 3 * * *" and request["pipeline_package_path"] == str(COMPILED)
    assert request["params"] == {
        "catalog_uri": "s3://shop/catalog/",
        "mlflow_tracking_uri": "http://mlflow",
        "steps": 3000,
        "model_family": "wgan-gp",
    }


@pytest.fixture
def mlflow_server(tmp_path, s3_endpoint):
    """A real `mlflow server`: runs and registry in sqlite, artifacts proxied to S3 on moto."""
    boto3.client("s3").create_bucket(Bucket="gig-mlflow")
    port = _free_port()
    env = {
        **os.environ,
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--artifacts-destination",
            "s3://gig-mlflow/artifacts",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/health", server, "mlflow server")
    yield url
    server.terminate()
    server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:You may be attemping to run a task that uses custom or non-Python base image")
@pytest.mark.filterwarnings("ignore:.*have no effect in the current local runner")  # the GPU request
def test_pipeline_runs_locally_against_mlflow_server_with_s3_artifacts(tmp_path, tiny_catalog, mlflow_server):
    from kfp import local

    from pipelines.gig_pipeline import gig_pipeline

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))
    common = dict(
        catalog_uri=str(tiny_catalog),
        mlflow_tracking_uri=mlflow_server,
        model_family="cgan",
        preset="demo",
        resolution=32,
        batch_size=16,
        channels=16,
        holdout_fraction=0.25,
        evaluation_cache_dir=str(tmp_path / "cache"),
        min_cell_images=4,  # the tiny catalog's cells are small
        min_within_class_diversity=0.0,
    )  # 40 steps make no varied model; this test is about the plumbing
    gig_pipeline(steps=40, **common)
    client = MlflowClient(tracking_uri=mlflow_server)
    champion = client.get_model_version_by_alias("gig-generator", "champion")
    assert str(champion.version) == "1"
    gig_pipeline(steps=40, **common)  # the same recipe again: no better beyond the noise
    second = client.get_model_version("gig-generator", "2")
    assert "challenger" in second.aliases and "champion" not in second.aliases
    assert str(client.get_model_version_by_alias("gig-generator", "champion").version) == "1"
    run = client.get_run(second.run_id)
    assert run.data.tags["promoted"] == "False" and "loss_d" in run.data.metrics and "fid" in run.data.metrics

    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="gig-mlflow")["Contents"]]
    assert any(k.endswith("evaluation/report.html") for k in keys)  # artifacts landed in S3, through the server
    assert any(k.endswith("generator.pt") for k in keys)
    print(
        f"\nregistry {mlflow_server}: champion v1, v2 {sorted(second.aliases)}; "
        f"{len(keys)} artifact objects in s3://gig-mlflow, e.g. {sorted(keys)[:3]}"
    )
