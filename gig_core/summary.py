"""What `make demo` prints at the end: where to look and what to run next."""

from __future__ import annotations

import json
from pathlib import Path

from gig_core.config import load_params
from gig_core.layout import EvaluateOutputs, TrainOutputs


def _variety(metrics: dict) -> str:
    if "within_class_diversity" not in metrics:
        return "within-class diversity not measured (add within_class_diversity to evaluate.metrics)"
    return (
        f"within-class diversity {metrics['within_class_diversity']:.2f} of real photos' "
        f"(worst cell {metrics['within_class_diversity_worst_cell']}: {metrics['within_class_diversity_worst']:.2f}; "
        f"{metrics['within_class_cells']} cells)"
    )


def fid_line(metrics: dict, confidence: float) -> str:
    """FID with its sample counts and the real photos' floor, then the interval and the value it belongs to (the
    bias-corrected one), never below 0."""
    space = {"inception": "Inception FID", "catalog": "FID (catalog features)"}.get(
        metrics.get("feature_extractor", ""), "FID")
    if "fid_bias_corrected" not in metrics:  # an evaluation from before the bias-corrected value was recorded
        return f"{space} {metrics['fid']:.3f}"
    counts = (f" at {metrics['fid_real_n']} real / {metrics['fid_generated_n']} generated images"
              if "fid_real_n" in metrics else "")
    floor = f"; real photos' own floor at that N {metrics['fid_floor']:.2f}" if "fid_floor" in metrics else ""
    low, high = max(0.0, metrics["fid_ci_low"]), max(0.0, metrics["fid_ci_high"])
    if metrics.get("fid_indistinguishable", float(metrics["fid_ci_low"] <= 0)):
        interval = f"{confidence:.0%} interval [0, {high:.2f}]: cannot be told apart from real photos at this N"
    else:
        interval = f"bias-corrected {max(0.0, metrics['fid_bias_corrected']):.2f}, {confidence:.0%} interval " \
                   f"[{low:.2f}, {high:.2f}]"
    return f"{space} {metrics['fid']:.2f}{counts}{floor}\n                  {interval}"


def kid_line(metrics: dict, confidence: float) -> str:
    """KID x 10^3 with its interval (cut at 0: a squared distance) and the real floor."""
    if "kid_ci_low" not in metrics:
        return f"KID {metrics['kid_mean']:.4f} +/- {metrics['kid_std']:.4f}"
    floor = f" (real floor {1e3 * max(0.0, metrics['kid_floor']):.2f})" if "kid_floor" in metrics else ""
    return (f"KID x10^3 {1e3 * max(0.0, metrics['kid_mean']):.2f}, {confidence:.0%} interval "
            f"[{1e3 * max(0.0, metrics['kid_ci_low']):.2f}, {1e3 * max(0.0, metrics['kid_ci_high']):.2f}]{floor}")


def c2st_line(metrics: dict, confidence: float) -> str:
    """The trained detector's accuracy: 0.5 = it cannot tell the samples from real photos, 1 = trivially fake."""
    if "c2st_accuracy" not in metrics:
        return "C2ST not measured (add c2st to evaluate.metrics)"
    worst = (f"; easiest to spot: {metrics['c2st_worst_class']} {metrics['c2st_worst']:.2f}"
             if "c2st_worst_class" in metrics else "")
    floor = (f"\n                  real photos at the model's resolution score {metrics['c2st_floor']:.3f} "
             f"[{metrics['c2st_floor_ci_low']:.3f}, {metrics['c2st_floor_ci_high']:.3f}]: about the best a model of "
             f"this size can do" if "c2st_floor" in metrics else "")
    indistinguishable = metrics.get("c2st_indistinguishable", float(metrics["c2st_ci_low"] <= 0.5))
    reading = (": a detector trained here cannot tell them from real photos at this N (with few images, that may "
               "only mean too few to tell)" if indistinguishable else
               " (0.5: a trained detector cannot tell them from real photos; 1: trivially fake)")
    return (f"C2ST accuracy {metrics['c2st_accuracy']:.3f}, {confidence:.0%} interval [{metrics['c2st_ci_low']:.3f}, "
            f"{metrics['c2st_ci_high']:.3f}] on {metrics['c2st_tested']} test images{reading}{worst}{floor}")


def print_summary(params_path: str = "params.yaml") -> None:
    import mlflow
    from mlflow import MlflowClient

    from gig_core.registry.register import Registration


    params = load_params(params_path)
    train = json.loads(TrainOutputs(params.train.out_dir).summary.read_text())
    metrics = json.loads(EvaluateOutputs(params.evaluate.out_dir).metrics.read_text())
    registration = Registration.read(params.register.out_dir)
    mlflow.set_tracking_uri(params.register.tracking_uri)
    version = MlflowClient().get_model_version(registration.model_name, registration.version)
    rows = ", ".join(train["grid_rows"]) or "unconditional"
    blank = f", {metrics['blank_share']:.1%} blank frames" if "blank_share" in metrics else ""
    print(f"""
GIG demo done.
  sample grid : {TrainOutputs(params.train.out_dir).grid}  (one row per articleType: {rows})
  loss curves : dvc plots show  (data: {params.train.out_dir}/losses.csv)
  metrics     : {fid_line(metrics, params.evaluate.confidence)}
                {kid_line(metrics, params.evaluate.confidence)}
                {c2st_line(metrics, params.evaluate.confidence)}
                precision {metrics["precision"]:.3f}  recall {metrics["recall"]:.3f}  (dvc metrics show)
  variety     : {_variety(metrics)}
  evaluation  : {Path(params.evaluate.out_dir) / "report.html"}  (per-class FID, conditional accuracy, \
memorization {metrics["memorized_share"]:.1%} copies{blank})
  model       : {version.name} version {version.version}, aliases {sorted(version.aliases)}  \
[{registration.promotion["reason"]}]
  MLflow UI   : .venv/bin/mlflow ui --backend-store-uri {params.register.tracking_uri}   then open http://127.0.0.1:5000
  generate    : .venv/bin/gig generate -n 16 --attr articleType=Tshirts --attr baseColour=Blue --out generated
  gallery     : .venv/bin/gig gallery   (pick, compare, download and approve images on http://127.0.0.1:5002/)
  serve       : .venv/bin/gig serve   (models:/{version.name}@champion on http://127.0.0.1:5001/invocations)
""")
