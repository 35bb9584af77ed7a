"""The promotion rule, in one function, and its application to the registry aliases."""

from __future__ import annotations

from dataclasses import asdict, dataclass

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class AlignmentComparison:
    """Title models only: R-precision of the challenger and of the re-scored champion on the same
    held-out titles and rival titles, and the 95% interval of the change (challenger - champion)."""

    champion: float
    challenger: float
    change_low: float
    change_high: float

    @property
    def dropped(self) -> bool:
        """Worse beyond the noise: the whole interval of the change is below zero."""
        return self.change_high < 0


@dataclass(frozen=True)
class DetectabilityComparison:
    """C2ST accuracy (how well a detector trained on each model's samples tells them from real photos) of the
    challenger and of the re-scored champion on the same photos, and the interval of the change (challenger -
    champion; positive means the challenger is easier to spot)."""

    champion: float
    challenger: float
    change_low: float
    change_high: float

    @property
    def worse(self) -> bool:
        """Easier to spot beyond the noise: the whole interval of the change is above zero."""
        return self.change_low > 0


@dataclass(frozen=True)
class ChampionComparison:
    """The champion re-scored on the challenger's reference set, and the bootstrap interval of
    the FID improvement (champion FID - challenger FID; positive means the challenger is better)."""

    version: str
    champion_fid: float
    improvement: float
    improvement_low: float
    improvement_high: float
    confidence: float
    alignment: AlignmentComparison | None = None  # when both read titles
    detectability: DetectabilityComparison | None = None  # when C2ST is measured and its veto is on


@dataclass(frozen=True)
class DiversityFloor:
    """The challenger's within-class diversity (samples' spread within a condition cell relative to
    the cell's real photos; see evaluation/metrics/within_class_diversity.py) and the floor it must reach."""

    value: float
    worst_cell: str
    worst_value: float
    minimum: float

    @property
    def passed(self) -> bool:
        return self.value >= self.minimum


@dataclass(frozen=True)
class FirstChampionFloor:
    """The challenger's precision (share of samples on the real photos' manifold) and the floor a
    first champion must reach: with no champion to beat, nothing else stops an untrained model."""

    precision: float
    minimum: float

    @property
    def passed(self) -> bool:
        return self.precision >= self.minimum


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    challenger_fid: float
    champion_fid: float | None = None
    champion_version: str | None = None
    improvement_low: float | None = None
    improvement_high: float | None = None
    margin: float = 0.0
    within_class_diversity: float | None = None
    c2st_accuracy: float | None = None
    champion_c2st_accuracy: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def decide_promotion(challenger_fid: float, champion: ChampionComparison | None, margin: float = 0.0,
                     diversity: DiversityFloor | None = None,
                     first_floor: FirstChampionFloor | None = None) -> PromotionDecision:
    """The challenger becomes champion when it varies within each product type, and there is no
    champion or it is better beyond the noise: the lower end of the improvement's interval
    exceeds `margin` FID points. A title model must also not match its titles worse than the
    champion beyond the noise (R-precision, when both read titles).

    Diversity is a veto, whatever the FID: a generator that draws one image per class can
    score a fine FID (and the first version of GIG's demo model did), but it gives a shop one
    image per product type. A lower FID alone is not enough either: two runs of one model
    differ by chance, and promoting on chance churns the champion (and the shop's images) for
    nothing. The comparison must come from re-scoring the champion on the challenger's
    reference set (same held-out images, same feature extractor), never from its old record.
    With no champion yet, the challenger must still clear `first_floor`: an untrained or broken
    generator would otherwise become the first champion by default.
    """
    common: dict = dict(challenger_fid=challenger_fid, margin=margin,
                        within_class_diversity=diversity.value if diversity else None)
    if champion is not None:
        common.update(champion_fid=champion.champion_fid, champion_version=champion.version,
                      improvement_low=champion.improvement_low, improvement_high=champion.improvement_high)
        if champion.detectability is not None:
            common.update(c2st_accuracy=champion.detectability.challenger,
                          champion_c2st_accuracy=champion.detectability.champion)
    if diversity is not None and not diversity.passed:
        return PromotionDecision(False, f"within-class diversity {diversity.value:.3f} is below "
                                        f"register.min_within_class_diversity {diversity.minimum} (worst cell "
                                        f"{diversity.worst_cell}: {diversity.worst_value:.3f}): the challenger varies "
                                        f"too little within a product type, whatever its FID ({challenger_fid:.3f})",
                                 **common)
    if champion is None:
        if first_floor is not None and not first_floor.passed:
            return PromotionDecision(False, f"no champion yet, but precision {first_floor.precision:.3f} is below "
                                            f"register.min_first_champion_precision {first_floor.minimum}: too few "
                                            f"samples look like catalog photos to serve (FID {challenger_fid:.3f})",
                                     **common)
        return PromotionDecision(True, "no champion yet", **common)
    if champion.alignment is not None and champion.alignment.dropped:
        a = champion.alignment
        return PromotionDecision(
            False,
            f"text alignment drops beyond the noise: R-precision {a.challenger:.3f} vs champion v{champion.version} "
            f"{a.champion:.3f} (change 95% interval [{a.change_low:.3f}, {a.change_high:.3f}]), whatever the FID "
            f"({challenger_fid:.3f} vs {champion.champion_fid:.3f})",
            **common,
        )
    if champion.detectability is not None and champion.detectability.worse:
        d = champion.detectability
        return PromotionDecision(
            False,
            f"easier to tell from real photos beyond the noise: C2ST accuracy {d.challenger:.3f} vs champion "
            f"v{champion.version} {d.champion:.3f} (change {champion.confidence:.0%} interval [{d.change_low:.3f}, "
            f"{d.change_high:.3f}]), whatever the FID ({challenger_fid:.3f} vs {champion.champion_fid:.3f})",
            **common,
        )
    interval = (f"improvement {champion.improvement:.3f} FID, {champion.confidence:.0%} interval "
                f"[{champion.improvement_low:.3f}, {champion.improvement_high:.3f}]")
    if champion.improvement_low > margin:
        return PromotionDecision(
            True,
            f"challenger FID {challenger_fid:.3f} beats champion v{champion.version} "
            f"FID {champion.champion_fid:.3f} beyond the noise: {interval} > margin {margin}",
            **common,
        )
    verdict = "lower only within the noise" if challenger_fid < champion.champion_fid else "not lower"
    return PromotionDecision(
        False,
        f"challenger FID {challenger_fid:.3f} vs champion v{champion.version} FID "
        f"{champion.champion_fid:.3f}: {verdict} ({interval}, needs > margin {margin})",
        **common,
    )
