from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register(model: Input[Model], evaluation: Input[Artifact], mlflow_tracking_uri: str, experiment: str,
             model_name: str, promotion_margin: float, min_within_class_diversity: float,
             registration: Output[Artifact]) -> str:
    """Register the generator; move `champion` when the promotion rule says so. Returns the version."""
    from gig_core.config import RegisterConfig
    from gig_core.registry.register import register as register_generator

    result = register_generator(RegisterConfig(
        train_dir=model.path, evaluate_dir=evaluation.path, out_dir=registration.path,
        tracking_uri=mlflow_tracking_uri, artifact_dir="", experiment=experiment, model_name=model_name,
        catalog_dvc_file="", promotion_margin=promotion_margin, min_within_class_diversity=min_within_class_diversity,
    ), progress=False)
    return result["version"]
