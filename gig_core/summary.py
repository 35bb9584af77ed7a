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
    """FID with its interval and the value the interval belongs to (the bias-corrected one)."""
    if "fid_bias_corrected" not in metrics:  # an evaluation from before the bias-corrected value was recorded
        return f"FID {metrics['fid']:.3f}"
    return (f"FID {metrics['fid']:.3f} (bias-corrected {metrics['fid_bias_corrected']:.3f}, "
            f"{confidence:.0%} interval [{metrics['fid_ci_low']:.3f}, {metrics['fid_ci_high']:.3f}])")


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
                KID {metrics["kid_mean"]:.4f} +/- {metrics["kid_std"]:.4f}  precision {metrics["precision"]:.3f}  \
recall {metrics["recall"]:.3f}  (dvc metrics show)
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
