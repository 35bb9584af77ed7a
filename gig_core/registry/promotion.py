"""The promotion rule, in one function, and its application to the registry aliases."""

from __future__ import annotations

from dataclasses import asdict, dataclass

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    challenger_fid: float
    champion_fid: float | None = None
    champion_version: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def decide_promotion(challenger_fid: float, champion_fid: float | None, champion_version: str | None = None) -> PromotionDecision:
    """The challenger becomes champion when there is none, or when its FID is lower.

    `champion_fid` must come from re-scoring the champion on the challenger's reference set
    (same held-out images, same feature extractor), never from the champion's old record.
    """
    if champion_fid is None:
        return PromotionDecision(True, "no champion yet", challenger_fid)
    if challenger_fid < champion_fid:
        reason = f"challenger FID {challenger_fid:.3f} < champion v{champion_version} FID {champion_fid:.3f}"
        return PromotionDecision(True, reason, challenger_fid, champion_fid, champion_version)
    reason = f"challenger FID {challenger_fid:.3f} >= champion v{champion_version} FID {champion_fid:.3f}"
    return PromotionDecision(False, reason, challenger_fid, champion_fid, champion_version)
