"""C2ST accuracy (evaluation/c2st.py): how well a detector trained here tells the samples from held-out real
photos, at display size. Per articleType too (the class attribute), so a user sees which product types give
themselves away: a class's figure is the accuracy over its real and generated test images, for classes
with at least min_class_samples of them. `c2st_indistinguishable` is 1 when the interval holds 0.5: the
detector cannot tell the samples from real photos at this N, which with few images may only mean too few."""

from __future__ import annotations

from gig_core.evaluation.c2st import two_sample_test
from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics.result import MetricResult


def compute(inputs: EvaluationInputs) -> MetricResult:
    if inputs.real_display is None or inputs.fake_display is None:
        return MetricResult()
    cfg = inputs.config
    test = two_sample_test(inputs.real_display, inputs.fake_display, cfg.detector_epochs, cfg.confidence, cfg.seed,
                           progress=inputs.progress)
    values = {"c2st_accuracy": test.accuracy, "c2st_ci_low": test.low, "c2st_ci_high": test.high,
              "c2st_tested": test.tested, "c2st_indistinguishable": float(test.low <= 0.5)}
    attribute = inputs.class_attribute
    if attribute is not None:
        hits: dict[str, list[int]] = {}
        for index, correct in zip(test.real_test.tolist(), test.correct_real.tolist()):
            hits.setdefault(inputs.real_rows[index][attribute], []).append(int(correct))
        for index, correct in zip(test.fake_test.tolist(), test.correct_fake.tolist()):
            hits.setdefault(inputs.fake_rows[index][attribute], []).append(int(correct))
        per_class = {c: sum(h) / len(h) for c, h in sorted(hits.items()) if len(h) >= cfg.min_class_samples}
        values["c2st_per_class"] = per_class
        if per_class:
            values["c2st_worst_class"] = max(per_class, key=per_class.get)
            values["c2st_worst"] = per_class[values["c2st_worst_class"]]
    return MetricResult(values, {"detector": test.detector, "realism": test.fake_scores,
                                 "c2st_fake_test": test.fake_test})
