from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(data: Input[Dataset], preset: str, model_family: str, resolution: int, steps: int, batch_size: int,
          channels: int, diffaugment: str, mlflow_tracking_uri: str, experiment: str, model: Output[Model]):
    """Train a generator (on the GPU the task requests) with per-step metrics in MLflow."""
    from gig_core.config import load_section
    from gig_core.training.trainer import train as train_generator

    config = load_section("train", None, dict(  # no params.yaml here: defaults <- family <- preset <- these
        data_dir=data.path, out_dir=model.path, preset=preset, model=model_family, resolution=resolution, steps=steps,
        batch_size=batch_size, g_channels=channels, d_channels=channels, tracking_uri=mlflow_tracking_uri,
        experiment=experiment, amp=True, channels_last=True, augment={"diffaugment": diffaugment},
    ))
    train_generator(config, progress=False)
