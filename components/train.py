from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(data: Input[Dataset], preset: str, model_family: str, resolution: int, steps: int, batch_size: int,
          channels: int, diffaugment: str, processes: int, mlflow_tracking_uri: str, experiment: str,
          model: Output[Model]):
    """Train a generator with per-step metrics in MLflow: one process per GPU the task requests
    (`processes`, torchrun inside the pod), each with `batch_size` images per step."""
    from gig_core.config import load_section
    from gig_core.training.launch import launch_training

    config = load_section("train", None, dict(  # no params.yaml here: defaults <- family <- preset <- these
        data_dir=data.path, out_dir=model.path, preset=preset, model=model_family, resolution=resolution, steps=steps,
        batch_size=batch_size, g_channels=channels, d_channels=channels, tracking_uri=mlflow_tracking_uri,
        experiment=experiment, amp=True, channels_last=True, augment={"diffaugment": diffaugment}, processes=processes,
    ))
    launch_training(config, progress=False)
