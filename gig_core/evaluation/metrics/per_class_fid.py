"""FID within each class of a conditional model (e.g. per articleType): a model can look good
on average while one category is broken. Classes with fewer than min_class_samples real or
generated images are skipped (listed in the details), as their FID would be noise."""

from __future__ import annotations

from gig_core.evaluation.inputs import EvaluationInputs, class_indices
from gig_core.evaluation.metrics.fid import frechet_distance
from gig_core.evaluation.metrics.result import MetricResult


def compute(inputs: EvaluationInputs) -> MetricResult:
    attribute = inputs.class_attribute
    if attribute is None:
        return MetricResult()
    real_groups = class_indices(inputs.real_rows, attribute)
    fake_groups = class_indices(inputs.fake_rows, attribute)
    scores, skipped = {}, {}
    for value in sorted(set(real_groups) | set(fake_groups)):
        r, f = real_groups.get(value), fake_groups.get(value)
        n_real, n_fake = (0 if r is None else len(r)), (0 if f is None else len(f))
        if min(n_real, n_fake) < inputs.config.min_class_samples:
            skipped[value] = {"real": n_real, "generated": n_fake}
            continue
        scores[value] = frechet_distance(inputs.real[r], inputs.fake[f])
    values = {"per_class_fid": scores}
    if scores:
        values["per_class_fid_worst"] = max(scores.values())
    return MetricResult(values, {"per_class_attribute": attribute, "per_class_skipped": skipped})
