"""The retraining pipeline: ingest -> preprocess -> train (GPU) -> evaluate -> register.

Its stage settings are the project's params.yaml, carried as one parameter (`params`; compiled
in as the default, see compile.py) and read by every component with the same `load_section`
as the `gig` command line, so what `dvc repro` runs is what production runs. `overrides` change
single keys for one run, spelled as `dvc exp run -S` spells them ({"train.steps": 3000}). The
other parameters say where this cluster keeps things: the catalog, the MLflow server, the
GPUs, and one ReadWriteMany claim (`shared_pvc`, mounted at /mnt/gig-shared) that holds the
evaluation cache (the catalog's feature extractor and reference statistics, kept between runs)
and the data and checkpoints of a multi-node TrainJob (`train.nodes` > 1).

Ingest never comes from KFP's cache (the catalog at the same URI changes every night) and is
retried (object stores and networks fail transiently); later steps are cached by their inputs.
S3 and MLflow credentials come from Kubernetes secrets as environment variables.
"""

from kfp import dsl, kubernetes

from components import evaluate, ingest, preprocess, register, resolve_params, train
from components.image import IMAGE

S3_SECRET = "gig-s3"  # keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL (optional)
MLFLOW_SECRET = "gig-mlflow"  # keys MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD (optional)
SHARED_MOUNT = "/mnt/gig-shared"  # the shared claim, in the train and evaluate pods and on every TrainJob node

# CPU and memory each step asks for (request, limit). Ingest and preprocess run 2 workers by
# default (ingest.workers, preprocess.workers); train's host side feeds the GPUs from memory.
STEP_RESOURCES = {
    "resolve-params": ("250m", "500m", "512Mi", "1Gi"),
    "ingest": ("2", "4", "4Gi", "8Gi"),
    "preprocess": ("2", "4", "8Gi", "16Gi"),
    "train": ("4", "8", "16Gi", "32Gi"),
    "evaluate": ("2", "4", "8Gi", "16Gi"),
    "register": ("1", "2", "4Gi", "8Gi"),
}


def _sized(task: dsl.PipelineTask, step: str) -> dsl.PipelineTask:
    cpu, cpu_limit, memory, memory_limit = STEP_RESOURCES[step]
    return task.set_cpu_request(cpu).set_cpu_limit(cpu_limit).set_memory_request(memory).set_memory_limit(memory_limit)


def _with_credentials(task: dsl.PipelineTask) -> dsl.PipelineTask:
    kubernetes.use_secret_as_env(task, S3_SECRET, {"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
                                                   "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
                                                   "AWS_ENDPOINT_URL": "AWS_ENDPOINT_URL"}, optional=True)
    kubernetes.use_secret_as_env(task, MLFLOW_SECRET, {"MLFLOW_TRACKING_USERNAME": "MLFLOW_TRACKING_USERNAME",
                                                       "MLFLOW_TRACKING_PASSWORD": "MLFLOW_TRACKING_PASSWORD"},
                                 optional=True)
    return task


@dsl.pipeline(name="gig-retrain", description="Retrain a product-image generator on the latest catalog; promote "
                                              "it to champion only when it is better beyond the noise.")
def gig_pipeline(
    params: dict,
    catalog_uri: str,
    mlflow_tracking_uri: str,
    overrides: dict = {},  # noqa: B006 (KFP parameters are declared by their defaults)
    shared_pvc: str = "gig-shared",
    evaluation_cache_dir: str = f"{SHARED_MOUNT}/evaluation-cache",
    gpu_accelerator: str = "nvidia.com/gpu",
    gpu_limit: int = 1,
    train_node_selector: dict = {},  # noqa: B006
    train_tolerations: list = [],  # noqa: B006
):
    stage = _sized(resolve_params(params=params, overrides=overrides, catalog_uri=catalog_uri,
                                  mlflow_tracking_uri=mlflow_tracking_uri, evaluation_cache_dir=evaluation_cache_dir),
                   "resolve-params").outputs
    ingested = _sized(_with_credentials(ingest(config=stage["ingest"])), "ingest")
    ingested.set_caching_options(False).set_retry(num_retries=3, backoff_duration="60s", backoff_factor=2.0)
    data = _sized(preprocess(config=stage["preprocess"], catalog=ingested.outputs["catalog"]), "preprocess")
    trained = _sized(_with_credentials(train(config=stage["train"], data=data.outputs["data"], image=IMAGE,
                                             shared_pvc=shared_pvc, gpu_limit=gpu_limit)), "train")
    trained.set_accelerator_type(gpu_accelerator).set_accelerator_limit(gpu_limit)
    kubernetes.add_node_selector_json(trained, train_node_selector)
    kubernetes.add_toleration_json(trained, train_tolerations)
    scored = _sized(evaluate(config=stage["evaluate"], data=data.outputs["data"], model=trained.outputs["model"]),
                    "evaluate")
    for task in (trained, scored):
        kubernetes.mount_pvc(task, pvc_name=shared_pvc, mount_path=SHARED_MOUNT)
    registered = register(config=stage["register"], display=stage["postprocess"], catalog=ingested.outputs["catalog"],
                          model=trained.outputs["model"], evaluation=scored.outputs["evaluation"])
    _sized(_with_credentials(registered), "register")
