"""The model history as a picture: FID and within-class diversity of every version, champions marked."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: PNG only
import matplotlib.pyplot as plt  # noqa: E402

from gig_core.gallery.registry_view import VersionRecord  # noqa: E402


def history_png(records: list[VersionRecord], diversity_floor: float | None = None) -> bytes:
    """A two-panel PNG: FID (with its interval) and within-class diversity per version."""
    figure, (fid_axis, diversity_axis) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    numbers = [r.number for r in records]
    fid = [r.metrics.get("fid", float("nan")) for r in records]
    corrected = [r.metrics.get("fid_bias_corrected", f) for r, f in zip(records, fid)]
    low = [r.metrics.get("fid_ci_low", c) for r, c in zip(records, corrected)]
    high = [r.metrics.get("fid_ci_high", c) for r, c in zip(records, corrected)]
    fid_axis.plot(numbers, fid, "s--", color="#9db7d8", label="FID (raw)")
    fid_axis.errorbar(numbers, corrected, yerr=[[max(0.0, c - lo) for c, lo in zip(corrected, low)],
                                                [max(0.0, hi - c) for c, hi in zip(corrected, high)]],
                      fmt="o-", color="#1f5fa8", capsize=3, label="FID bias-corrected (interval)")
    diversity = [r.metrics.get("within_class_diversity", float("nan")) for r in records]
    diversity_axis.plot(numbers, diversity, "o-", color="#2d8a4e", label="within-class diversity")
    if diversity_floor:
        diversity_axis.axhline(diversity_floor, color="#b03030", linestyle="--", linewidth=1,
                               label=f"veto floor {diversity_floor}")
    promoted = [r for r in records if r.promoted == "True" or r.approval == "approved"]
    fid_axis.scatter([r.number for r in promoted],
                     [r.metrics.get("fid_bias_corrected", r.metrics.get("fid", float("nan"))) for r in promoted],
                     s=140, facecolors="none", edgecolors="#d08000", linewidths=2, label="became champion", zorder=3)
    fid_axis.set_ylabel("FID (lower is better)")
    diversity_axis.set_ylabel("within-class diversity")
    diversity_axis.set_xlabel("model version")
    diversity_axis.set_xticks(numbers)
    for axis in (fid_axis, diversity_axis):
        axis.grid(alpha=0.3)
        axis.legend(loc="best", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
