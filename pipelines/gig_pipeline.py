"""The retraining pipeline: ingest -> preprocess -> train (GPU) -> evaluate -> register.

Ingest never comes from KFP's cache (the catalog at the same URI changes every night); later
steps are cached by their inputs as usual. S3 and MLflow credentials come from Kubernetes
secrets as environment variables; the GPU request, node selector and tolerations of the train
step are pipeline parameters, so one compiled YAML serves every cluster.
"""

from kfp import dsl, kubernetes

from components import evaluate, ingest, preprocess, register, train

S3_SECRET = "gig-s3"  # keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL (optional)
MLFLOW_SECRET = "gig-mlflow"  # keys MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD (optional)


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
    catalog_uri: str,
    mlflow_tracking_uri: str,
    model_family: str = "hcgan",
    preset: str = "demo",
    resolution: int = 32,
    steps: int = 1500,
    batch_size: int = 64,
    channels: int = 32,
    diffaugment: str = "",
    holdout_fraction: float = 0.15,
    experiment: str = "gig",
    model_name: str = "gig-generator",
    promotion_margin: float = 0.0,
    min_within_class_diversity: float = 0.5,
    min_cell_images: int = 16,
    evaluation_cache_dir: str = "/tmp/gig_cache",
    gpu_accelerator: str = "nvidia.com/gpu",
    gpu_limit: int = 1,
    train_node_selector: dict = {},  # noqa: B006 (KFP parameters are declared by their defaults)
    train_tolerations: list = [],  # noqa: B006
):
    ingested = _with_credentials(ingest(catalog_uri=catalog_uri)).set_caching_options(False)
    data = preprocess(catalog=ingested.outputs["catalog"], resolution=resolution, holdout_fraction=holdout_fraction)
    trained = _with_credentials(train(
        data=data.outputs["data"], preset=preset, model_family=model_family, resolution=resolution, steps=steps,
        batch_size=batch_size, channels=channels, diffaugment=diffaugment, processes=gpu_limit,
        mlflow_tracking_uri=mlflow_tracking_uri, experiment=experiment,
    ))
    trained.set_accelerator_type(gpu_accelerator).set_accelerator_limit(gpu_limit)
    kubernetes.add_node_selector_json(trained, train_node_selector)
    kubernetes.add_toleration_json(trained, train_tolerations)
    scored = evaluate(data=data.outputs["data"], model=trained.outputs["model"], cache_dir=evaluation_cache_dir,
                      min_cell_images=min_cell_images)
    _with_credentials(
        register(
            model=trained.outputs["model"],
            evaluation=scored.outputs["evaluation"],
            mlflow_tracking_uri=mlflow_tracking_uri,
            experiment=experiment,
            model_name=model_name,
            promotion_margin=promotion_margin,
            min_within_class_diversity=min_within_class_diversity,
        )
    )
