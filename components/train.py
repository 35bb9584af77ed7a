from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(config: dict, data: Input[Dataset], model: Output[Model], image: str, shared_pvc: str, gpu_limit: int):
    """Train a generator with per-step metrics in MLflow: in this pod, one process per GPU (torchrun
    inside it, `train.processes: 0`); or, with `train.nodes` > 1, as a Kubeflow Trainer TrainJob of
    that many nodes of `gpu_limit` GPUs that share the claim `shared_pvc`."""
    from gig_core.config import load_section
    from gig_core.training.launch import launch_training

    train_config = load_section("train", {"train": config}, {"data_dir": data.path, "out_dir": model.path})
    if train_config.nodes <= 1:
        launch_training(train_config, progress=False)
        return
    from gig_core.data.lineage import sha256_file
    from gig_core.layout import PreprocessOutputs
    from gig_core.training.trainjob import TrainJobTarget, run_trainjob

    target = TrainJobTarget(image=image, shared_pvc=shared_pvc, resources_per_node={"gpu": gpu_limit})
    run_trainjob(train_config, target, data_fingerprint=sha256_file(PreprocessOutputs(data.path).summary))
