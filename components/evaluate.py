from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(
    config: dict,
    data: Input[Dataset],
    model: Input[Model],
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
    report: Output[HTML],
):
    """Score the generator against the held-out photos; metrics, report and files for register."""
    import shutil

    from gig_core.config import load_section
    from gig_core.evaluation.evaluate import evaluate as evaluate_generator
    from gig_core.layout import EvaluateOutputs

    paths = {"data_dir": data.path, "train_dir": model.path, "out_dir": evaluation.path, "headline_file": ""}
    values = evaluate_generator(load_section("evaluate", {"evaluate": config}, paths), progress=False)
    for key, value in values.items():
        if isinstance(value, (int, float)):
            metrics.log_metric(key, float(value))
    shutil.copyfile(EvaluateOutputs(evaluation.path).report, report.path)
