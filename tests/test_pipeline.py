"""The Kubeflow pipeline: its compiled YAML is current and asks for what production needs, and
the whole pipeline runs locally (kfp.local, no cluster) against a real `mlflow server` whose
artifacts go to S3 (moto's server over HTTP)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from mlflow import MlflowClient

from gig_core.config import ConfigError, read_params_file
from pipelines.compile import COMPILED, PROJECT_PARAMS, compile_pipeline, without_nulls
from pipelines.schedule import parse_args, recurring_run_request
from tests.conftest import _free_port, start_server, wait_for_http


def test_compiled_yaml_is_up_to_date(tmp_path):
    fresh = compile_pipeline(tmp_path / "gig_pipeline.yaml").read_text()
    # Parsed, not as text: the header comment prints the params default in protobuf's own map order.
    assert list(yaml.safe_load_all(COMPILED.read_text())) == list(yaml.safe_load_all(fresh)), (
        "pipelines/gig_pipeline.yaml is stale: run .venv/bin/python -m pipelines.compile"
    )


def test_compiled_yaml_carries_params_yaml_and_asks_for_what_production_needs():
    docs = list(yaml.safe_load_all(COMPILED.read_text()))
    spec, platform = docs[0], docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert inputs["params"]["defaultValue"] == without_nulls(read_params_file(PROJECT_PARAMS))  # one config
    assert not {"steps", "resolution", "model_family", "batch_size"} & set(inputs)  # no second set of defaults
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["ingest"]["cachingOptions"] == {} and tasks["train"]["cachingOptions"] == {"enableCache": True}
    assert tasks["ingest"]["retryPolicy"]["maxRetryCount"] == 3
    executors = spec["deploymentSpec"]["executors"]
    assert "accelerator" in executors["exec-train"]["container"]["resources"]
    for name, executor in executors.items():
        resources = executor["container"]["resources"]
        assert {"cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit"} <= set(resources), name
    assert "nodeSelector" in platform["exec-train"] and "tolerations" in platform["exec-train"]
    assert platform["exec-evaluate"]["pvcMount"][0]["mountPath"] == "/mnt/gig-shared"  # the evaluation cache
    assert platform["exec-train"]["pvcMount"][0]["mountPath"] == "/mnt/gig-shared"  # a TrainJob's data, checkpoints
    for step in ("exec-ingest", "exec-train", "exec-register"):
        secrets = {s["secretName"] for s in platform[step]["secretAsEnv"]}
        assert secrets == {"gig-s3", "gig-mlflow"}
    assert all(e["container"]["image"] == "gig:0.1.0" for e in executors.values())


def test_recurring_run_is_one_at_a_time_without_catch_up():
    request = recurring_run_request(parse_args([
        "--host", "http://kfp", "--catalog-uri", "s3://shop/catalog/", "--mlflow-tracking-uri", "http://mlflow",
        "--set", "train.steps=3000", "--set", "train.model=wgan-gp", "--param", "gpu_limit=4",
    ]))
    assert request["max_concurrency"] == 1 and request["no_catchup"] is True
    assert request["cron_expression"] == "0 0 3 * * *" and request["pipeline_package_path"] == str(COMPILED)
    assert request["params"] == {
        "catalog_uri": "s3://shop/catalog/",
        "mlflow_tracking_uri": "http://mlflow",
        "gpu_limit": 4,
        "overrides": {"train.steps": 3000, "train.model": "wgan-gp"},
    }
    with pytest.raises(ConfigError, match=r"unknown key.*stpes"):  # checked before it is scheduled
        recurring_run_request(parse_args([
            "--host", "h", "--catalog-uri", "c", "--mlflow-tracking-uri", "m", "--set", "train.stpes=3000",
        ]))


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
    server = start_server(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--artifacts-destination",
         "s3://gig-mlflow/artifacts"],
        tmp_path / "mlflow-server.log", env=env, cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/health", server, "mlflow server")
    yield url
    server.terminate()
    server.wait(timeout=30)


def tiny_params(path: Path, lr_g: float) -> Path:
    """The project's params.yaml, edited as a user would for a tiny catalog and a short run."""
    params = read_params_file(PROJECT_PARAMS)
    params["preprocess"]["holdout_fraction"] = 0.25
    params["train"].update(model="cgan", steps=40, batch_size=16, g_channels=16, d_channels=16, lr_g=lr_g)
    params["evaluate"]["min_cell_images"] = 4  # the tiny catalog's cells are small
    params["register"]["min_within_class_diversity"] = 0.0  # 40 steps make no varied model; this is about plumbing
    params["register"]["min_first_champion_precision"] = 0.0  # nor one on the Inception manifold
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:You may be attemping to run a task that uses custom or non-Python base image")
@pytest.mark.filterwarnings("ignore:.*have no effect in the current local runner")  # GPU request, PVC, resources
def test_params_yaml_reaches_the_pipeline_run_in_mlflow(tmp_path, tiny_catalog, mlflow_server):
    """A value changed in params.yaml, compiled, run from the compiled YAML on KFP's local runner
    against a real `mlflow server` whose artifacts go to S3 (moto): the value is in the trained
    run's MLflow params, and the registered version names its catalog."""
    from kfp import components, local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))
    compiled = compile_pipeline(tmp_path / "pipeline.yaml", tiny_params(tmp_path / "params.yaml", lr_g=0.00031))
    pipeline = components.load_component_from_file(str(compiled))
    common = dict(catalog_uri=str(tiny_catalog), mlflow_tracking_uri=mlflow_server,
                  evaluation_cache_dir=str(tmp_path / "cache"))
    pipeline(**common)
    client = MlflowClient(tracking_uri=mlflow_server)
    champion = client.get_model_version_by_alias("gig-generator", "champion")
    assert str(champion.version) == "1"
    run = client.get_run(champion.run_id)
    assert run.data.params["lr_g"] == "0.00031" and run.data.params["train.lr_g"] == "0.00031"  # from params.yaml
    assert run.data.params["steps"] == "40" and run.data.params["model"] == "cgan"

    pipeline(overrides={"train.lr_g": 0.0002}, **common)  # a one-run override, as `dvc exp run -S` spells it
    second = client.get_model_version("gig-generator", "2")
    assert "challenger" in second.aliases
    run = client.get_run(second.run_id)
    assert run.data.params["lr_g"] == "0.0002"
    assert run.data.tags["promoted"] == second.tags["promoted"] == str("champion" in second.aliases)
    assert "loss_d" in run.data.metrics and "fid" in run.data.metrics

    # Lineage: the catalog is the version's dataset input, named by catalog.parquet's content hash.
    dataset = run.inputs.dataset_inputs[0].dataset
    assert dataset.name == "catalog" and dataset.source_type == "local" and len(dataset.digest) == 20
    assert second.tags["catalog_sha256"].startswith(dataset.digest) and second.tags["family"] == "cgan"
    assert "FID" in second.description and second.tags["promotion_reason"] in second.description
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="gig-mlflow")["Contents"]]
    assert any(k.endswith("evaluation/report.html") for k in keys)  # artifacts landed in S3, through the server
    assert any(k.endswith("generator.pt") for k in keys)
    first_lr = client.get_run(champion.run_id).data.params["lr_g"]
    print(f"\nregistry {mlflow_server}: champion v1 trained with lr_g {first_lr} (params.yaml), v2 with "
          f"{run.data.params['lr_g']} (override), aliases {sorted(second.aliases)}")
    print(f"v2 dataset input: name={dataset.name} digest={dataset.digest} source={dataset.source}")
    print(f"v2 tags: {dict(sorted(second.tags.items()))}")
    print(f"v2 description: {second.description}")
