from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(
    data: Input[Dataset],
    model: Input[Model],
    cache_dir: str,
    min_cell_images: int,
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
    report: Output[HTML],
):
    """Score the generator against the held-out photos; metrics, report and files for register."""
    import shutil
    from pathlib import Path

    from gig_core.config import EvaluateConfig
    from gig_core.evaluation.evaluate import evaluate as evaluate_generator

    values = evaluate_generator(
        EvaluateConfig(
            data_dir=data.path,
            train_dir=model.path,
            out_dir=evaluation.path,
            cache_dir=cache_dir,
            min_cell_images=min_cell_images,
        ),
        progress=False,
    )
    for key, value in values.items():
        if isinstance(value, (int, float)):
            metrics.log_metric(key, float(value))
    shutil.copyfile(Path(evaluation.path) / "report.html", report.path)
