from typing import NamedTuple

from kfp import dsl

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def resolve_params(
    params: dict, overrides: dict, catalog_uri: str, mlflow_tracking_uri: str, evaluation_cache_dir: str
) -> NamedTuple("StageParams", ingest=dict, preprocess=dict, train=dict, evaluate=dict, register=dict,
                postprocess=dict):
    """Every stage's section of params.yaml with the run's overrides applied, checked before any work.

    `overrides` are dotted keys as in `dvc exp run -S` ({"train.steps": 3000}); the catalog, the
    registry and the evaluation cache of this cluster (which also holds the title encoder) come last.
    """
    from gig_core.config import resolve_params as resolve

    resolved = resolve(params, {
        **overrides,
        "ingest.source": catalog_uri,
        "train.tracking_uri": mlflow_tracking_uri,
        "register.tracking_uri": mlflow_tracking_uri,
        "evaluate.cache_dir": evaluation_cache_dir,
        "train.cache_dir": evaluation_cache_dir,  # tgan's title encoder, fitted once per catalog version
    })
    return (resolved["ingest"], resolved["preprocess"], resolved["train"], resolved["evaluate"], resolved["register"],
            resolved["postprocess"])
