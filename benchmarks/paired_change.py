"""The two paired comparisons the sampling benchmarks (realism_filter.py, truncation.py) give every row against
its baseline draws: Inception FID gain, paired on the same real photos, and the interval of the change in C2ST."""

from __future__ import annotations

from gig_core.evaluation.bootstrap import paired_difference_interval
from gig_core.evaluation.c2st import accuracy_change_interval
from gig_core.evaluation.evaluate import Evaluation, ReferenceSet
from gig_core.evaluation.metrics.fid import frechet_distance


def paired_change(reference: ReferenceSet, baseline: Evaluation, evaluation: Evaluation) -> dict[str, float]:
    """fid_gain (> 0: better) with its interval, and c2st_change's interval (< 0: harder to spot)."""
    config = reference.config
    gain, low, high = paired_difference_interval(frechet_distance, reference.features, baseline.inputs.fake,
                                                 evaluation.inputs.fake, config.bootstrap_draws, config.confidence,
                                                 config.seed)
    after, before = evaluation.result.values, baseline.result.values
    c2st_low, c2st_high = accuracy_change_interval(after["c2st_accuracy"], int(after["c2st_tested"]),
                                                   before["c2st_accuracy"], int(before["c2st_tested"]),
                                                   config.confidence)
    return {"fid_gain": gain, "fid_gain_ci_low": low, "fid_gain_ci_high": high,
            "c2st_change_ci_low": c2st_low, "c2st_change_ci_high": c2st_high}
