"""Every evaluation metric, registered by name; evaluate.py runs the ones params.yaml lists.

A metric module exposes `compute(inputs) -> MetricResult`: scalar values for metrics.json
(and MLflow), plus details (indices, per-pair distances) that only the HTML report needs.
A metric that does not apply (per-class FID of an unconditional model) returns nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics import (
    blank,
    c2st,
    conditional_accuracy,
    diversity,
    fid,
    kid,
    memorization,
    per_class_fid,
    precision_recall,
    text_alignment,
    within_class_diversity,
)
from gig_core.evaluation.metrics.result import MetricResult

METRICS: dict[str, Callable[[EvaluationInputs], MetricResult]] = {
    "fid": fid.compute,
    "kid": kid.compute,
    "precision_recall": precision_recall.compute,
    "per_class_fid": per_class_fid.compute,
    "conditional_accuracy": conditional_accuracy.compute,
    "within_class_diversity": within_class_diversity.compute,
    "diversity": diversity.compute,
    "memorization": memorization.compute,
    "blank": blank.compute,
    "text_alignment": text_alignment.compute,
    "c2st": c2st.compute,
}


def check_metric_names(names: list[str]) -> None:
    unknown = sorted(set(names) - set(METRICS))
    if unknown:
        raise ValueError(f"evaluate.metrics: unknown metric(s) {unknown}; choose from {sorted(METRICS)}")


def compute_metrics(names: list[str], inputs: EvaluationInputs) -> MetricResult:
    check_metric_names(names)
    total = MetricResult()
    for name in names:
        total.update(METRICS[name](inputs))
    return total
