"""The evaluate stage: score a generator (or a folder of images) against held-out real images.

A generator is asked for exactly the attribute mix of the held-out set, so a conditional
model is judged on the classes the catalog actually has. Real-image features come from the
reference cache (features.py). Writes metrics.json (scalars and intervals, for DVC and
MLflow), the samples' features (promotion compares them with the champion's), the resolved
config (promotion re-scores the champion with it) and the HTML report.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gig_core.atomic import atomic_file, write_json
from gig_core.config import EvaluateConfig, PostprocessConfig, build
from gig_core.data.preprocess import (
    TensorSplit,
    load_display_heldout,
    load_split,
    load_summary,
    load_vocab,
    square_resize,
)
from gig_core.device import resolve_device
from gig_core.evaluation.c2st import two_sample_test
from gig_core.evaluation.cells import RealPool, build_cells
from gig_core.evaluation.features import (
    build_extractor,
    cached_split_features,
    catalog_extractor,
    catalog_extractor_id,
    extract_features,
)
from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics import check_metric_names, compute_metrics
from gig_core.evaluation.metrics.result import MetricResult
from gig_core.evaluation.metrics.text_alignment import RIVALS, TextInputs
from gig_core.evaluation.realism import RealismReference, fit_realism_scorer
from gig_core.evaluation.sources import SampleSource, open_sample_source
from gig_core.layout import EvaluateOutputs
from gig_core.postprocess import as_shown, postprocess_batch
from gig_core.text.attributes import TitleAttributeParser
from gig_core.text.cache import cached_title_encoder
from gig_core.text.matching import distractors, fit_matcher


def attribute_rows(split: TensorSplit, vocab: dict[str, list[str]]) -> list[dict[str, str]]:
    """A split's attribute values by name, one dict per image."""
    return [{a: vocab[a][int(split.labels[a][i])] for a in split.labels} for i in range(len(split))]


def display_footing(images: torch.Tensor, display: PostprocessConfig) -> torch.Tensor:
    """(N, 3, R, R) uint8 -> post-processed for display, then padded and resized back to (N, 3, R, R)
    the way preprocess treats catalog photos."""
    shown = [torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in postprocess_batch(images, display)]  # (3, H, W)
    return square_resize(shown, images.shape[-1])


def reference_subset(labels: dict[str, torch.Tensor], limit: int, seed: int) -> torch.Tensor | None:
    """Sorted indices of at most `limit` rows, stratified by the first label attribute (each class keeps its
    share, rounded, at least one photo), or None when every row fits. Fixed by `seed`, so every model is
    scored on the same photos, and the reference stays this size however large the catalog grows."""
    n = len(next(iter(labels.values()))) if labels else 0
    if not limit or n <= limit:
        return None
    generator = torch.Generator().manual_seed(seed)
    classes = next(iter(labels.values()))
    picked = []
    for c in classes.unique():
        members = torch.nonzero(classes == c).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        picked.append(members[: max(1, round(limit * len(members) / n))])
    index = torch.cat(picked)
    index = index[torch.randperm(len(index), generator=generator)[:limit]]  # rounding may overshoot
    return index.sort().values


def subset_split(split: TensorSplit, index: torch.Tensor | None) -> TensorSplit:
    if index is None:
        return split
    rows = index.tolist()
    return TensorSplit(images=split.images[index], labels={a: t[index] for a, t in split.labels.items()},
                       ids=[split.ids[i] for i in rows], titles=[split.titles[i] for i in rows] if split.titles else [])


@dataclass
class Evaluation:
    result: MetricResult
    inputs: EvaluationInputs
    source: SampleSource


class ReferenceSet:
    """Held-out real images, their features and attribute mix: what every model is scored on.

    Features in two spaces (inputs.py): the standard extractor's (Inception by default) and the catalog
    classifier's; the real side of both is cached per catalog version.
    """

    def __init__(self, config: EvaluateConfig, progress: bool = True, display: PostprocessConfig | None = None):
        check_metric_names(config.metrics)
        self.config = config
        self.progress = progress
        self.display = display or PostprocessConfig()  # what config.postprocessed applies, and C2ST's footing
        self.device = resolve_device(config.device)
        self.extractor: nn.Module = build_extractor(config, progress, self.device)
        self.catalog: nn.Module = (self.extractor if config.feature_extractor == "catalog"
                                   else catalog_extractor(config, progress).to(self.device))
        heldout = load_split(config.data_dir, "heldout")
        self.subset = reference_subset(heldout.labels, config.max_images, config.seed)
        heldout = subset_split(heldout, self.subset)
        self.images = self.on_footing(heldout.images)  # (N, 3, R, R) uint8
        self.labels = heldout.labels
        if len(self.images) < 2:
            raise ValueError(
                f"{config.data_dir}: the held-out split has {len(self.images)} images; raise holdout_fraction"
            )
        self.vocab = load_vocab(config.data_dir)
        self.rows = attribute_rows(heldout, self.vocab)
        self.titles = heldout.titles  # a title model draws sample i from title i
        self.features = cached_split_features(config, self.split_key("heldout"), self.images, self.extractor)  # (N, F)
        self.catalog_features = self.catalog_space("heldout", self.images)  # (N, C)
        self.fingerprint = load_summary(config.data_dir)["fingerprint"]
        self._train: TensorSplit | None = None
        self._train_features: torch.Tensor | None = None
        self._floor: torch.Tensor | None = None
        self._floor_index: torch.Tensor | None = None
        self._display: torch.Tensor | None = None
        self._pool: RealPool | None = None
        self._text: TextInputs | None = None

    @property
    def resolution(self) -> int:
        return self.images.shape[-1]

    def on_footing(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, R, R) uint8 as scored: unchanged, or with evaluate.postprocessed made display-ready and
        padded and resized back to R the way preprocess treats catalog photos. Real and generated
        images both go through it, so a score compares like with like."""
        return display_footing(images, self.display) if self.config.postprocessed else images

    def split_key(self, split: str) -> str:
        """The feature cache's name for a split as scored (a subset and post-processed splits are cached apart)."""
        if split == "heldout" and self.subset is not None:
            split = f"heldout-max{self.config.max_images}-seed{self.config.seed}"
        if not self.config.postprocessed:
            return split
        return f"{split}-postprocessed-{hashlib.sha256(repr(asdict(self.display)).encode()).hexdigest()[:10]}"

    def catalog_space(self, split: str, images: torch.Tensor) -> torch.Tensor:
        """(N, C) catalog-classifier features of a split, from the same cache (the same entry as the standard
        space's when that is the catalog's)."""
        return cached_split_features(self.config, self.split_key(split), images, self.catalog,
                                     space=catalog_extractor_id(self.config))

    def train_split(self) -> TensorSplit:
        if self._train is None:
            train = load_split(self.config.data_dir, "train")
            self._train = replace(train, images=self.on_footing(train.images))
        return self._train

    def train_features(self) -> torch.Tensor:
        """(T, C) catalog features of every training image (memorization, the cells' real pool, text matching)."""
        if self._train_features is None:
            self._train_features = self.catalog_space("train", self.train_split().images)
        return self._train_features

    def floor_images(self) -> torch.Tensor:
        """(N, 3, R, R) uint8: as many training photos as there are reference photos, stratified the same way,
        at the model's resolution: what a perfect generator of this resolution would draw."""
        train = self.train_split()
        if self._floor_index is None:
            index = reference_subset(train.labels, len(self.images), self.config.seed + 1)
            self._floor_index = torch.arange(len(train)) if index is None else index
        return train.images[self._floor_index]

    def floor_features(self) -> torch.Tensor:
        """(N, F) standard features of floor_images(): the real photos' own FID and KID floor at this N."""
        if self._floor is None:
            key = f"train-floor{len(self.images)}-seed{self.config.seed}"
            if self.config.postprocessed:
                key = self.split_key(key)
            self._floor = cached_split_features(self.config, key, self.floor_images(), self.extractor)
        return self._floor

    def c2st_floor(self) -> dict[str, float]:
        """C2ST of floor_images() against the reference photos as shown: how easily the resolution alone gives an
        image away. Computed once per (catalog, resolution, display settings, N, detector epochs)."""
        settings = hashlib.sha256(repr((asdict(self.display), self.config.postprocessed)).encode()).hexdigest()[:10]
        name = (f"{self.fingerprint[:20]}-c2st-floor-n{len(self.images)}-{self.resolution}px-{settings}"
                f"-e{self.config.detector_epochs}-seed{self.config.seed}.json")
        path = Path(self.config.cache_dir) / "reference" / name
        if path.is_file():
            return json.loads(path.read_text())
        test = two_sample_test(self.display_images(), as_shown(self.floor_images(), self.display),
                               self.config.detector_epochs, self.config.confidence, self.config.seed, self.progress)
        floor = {"c2st_floor": test.accuracy, "c2st_floor_ci_low": test.low, "c2st_floor_ci_high": test.high}
        write_json(path, floor)
        return floor

    def display_images(self) -> torch.Tensor:
        """(N, 3, H, W) uint8: the reference photos as a shop shows them, from the original photos (C2ST)."""
        if self._display is None:
            photos = load_display_heldout(self.config.data_dir)
            photos = photos if self.subset is None else photos[self.subset]
            self._display = as_shown(photos, self.display)
        return self._display

    def real_pool(self) -> RealPool:
        """Held-out and training photos together, for the per-cell real spread (catalog features)."""
        if self._pool is None:
            train = self.train_split()
            self._pool = RealPool(
                heldout=self.images,
                train=train.images,
                labels={a: torch.cat([self.labels[a], train.labels[a]]) for a in self.labels},
                features=torch.cat([self.catalog_features, self.train_features()]),
                vocab=self.vocab,
                titles=[*self.titles, *train.titles],
            )
        return self._pool

    def text_inputs(self) -> TextInputs:
        """The held-out titles, their vectors and rivals, and a matching model fitted on the training split."""
        if self._text is None:
            encoder = cached_title_encoder(self.config.data_dir, self.config.cache_dir)
            self._text = TextInputs(
                titles=self.titles,
                vectors=encoder.encode(self.titles),
                rivals=distractors(self.titles, RIVALS, self.config.seed),
                matcher=fit_matcher(self.train_features(), encoder.encode(self.train_split().titles),
                                    seed=self.config.seed),
                parser=TitleAttributeParser(self.vocab),
            )
        return self._text

    def asked_rows(self, bundle) -> list[dict[str, str]]:
        """What a generator is asked for, one row per held-out image: its attributes, or for a title model its title."""
        return [{"title": t} for t in self.titles] if bundle.arch.titled else self.rows

    def samples(self, source: SampleSource) -> tuple[torch.Tensor, list[dict[str, str]] | None]:
        """(M, 3, R, R) uint8 samples and the attributes each was asked for (None: unlabelled)."""
        if source.images is not None:
            return source.images, None
        bundle = source.bundle.to(self.device)
        conditional = bundle.arch.conditional
        asked = self.asked_rows(bundle)
        labels = bundle.encode(asked, unknown="random", seed=self.config.seed) if conditional else None
        fakes = bundle.sample(len(self.images), labels, seed=self.config.seed, batch_size=self.config.batch_size)
        if fakes.shape[1:] != self.images.shape[1:]:
            raise ValueError(
                f"generator makes {tuple(fakes.shape[1:])} images, the reference set is {tuple(self.images.shape[1:])}"
            )
        fakes = self.on_footing(fakes)
        if not conditional:
            return fakes, None
        return fakes, [{a: self.rows[i][a] for a in bundle.arch.vocab if a in self.rows[i]} for i in range(len(fakes))]

    def score(self, source: SampleSource, metrics: list[str] | None = None) -> Evaluation:
        """Every configured metric (or just `metrics`) of `source` on this reference set (same seed every time)."""
        names = list(metrics or self.config.metrics)
        fakes, fake_rows = self.samples(source)
        titled = source.bundle is not None and source.bundle.arch.titled
        needs_classifier = ("conditional_accuracy" in names and fake_rows) or ("text_alignment" in names and titled)
        fake = extract_features(self.extractor, fakes, self.config.batch_size, desc=f"samples of {source.name}")
        needs_catalog = {"memorization", "text_alignment", "within_class_diversity"} & set(names)
        inputs = EvaluationInputs(
            config=self.config,
            real=self.features,
            fake=fake,
            real_images=self.images,
            fake_images=fakes,
            train=self.train_features() if "memorization" in names else torch.empty(0, self.catalog_features.shape[1]),
            real_rows=self.rows,
            fake_rows=fake_rows,
            vocab=self.vocab,
            classifier=self.catalog if needs_classifier else None,
            cells=build_cells(self, source, fakes, self.catalog) if "within_class_diversity" in names else None,
            text=self.text_inputs() if "text_alignment" in names and titled else None,
            floor=self.floor_features() if {"fid", "kid"} & set(names) else None,
            catalog_real=self.catalog_features,
            catalog_fake=(fake if self.catalog is self.extractor else
                          extract_features(self.catalog, fakes, self.config.batch_size)) if needs_catalog else None,
            real_display=self.display_images() if "c2st" in names else None,
            fake_display=as_shown(fakes, self.display) if "c2st" in names else None,
            progress=self.progress,
        )
        result = compute_metrics(names, inputs)
        if "c2st_accuracy" in result.values:
            result.values.update(self.c2st_floor())
        result.values.update(
            num_samples=len(fakes),
            feature_extractor=self.config.feature_extractor,
            reference_fingerprint=self.fingerprint,
        )
        return Evaluation(result, inputs, source)


HEADLINE = ("fid", "fid_bias_corrected", "fid_ci_low", "fid_ci_high", "fid_floor", "kid_mean", "kid_floor",
            "c2st_accuracy", "c2st_ci_low", "c2st_ci_high", "precision", "recall",
            "within_class_diversity", "within_class_diversity_worst", "memorized_share", "blank_share", "r_precision",
            "r_precision_real")


def headline_metrics(values: dict) -> dict[str, float]:
    """The scalar figures a person compares runs by, rounded: what `dvc metrics show` and `dvc exp show` print.

    metrics.json keeps everything (per-cell tables, fingerprints); a table of runs needs a dozen numbers.
    """
    return {k: round(float(v), 4) for k, v in values.items()
            if (k in HEADLINE or k.startswith(("cond_acc_", "title_acc_")))
            and isinstance(v, (int, float)) and not isinstance(v, bool)}


def evaluate(config: EvaluateConfig, progress: bool = True, display: PostprocessConfig | None = None) -> dict:
    """Score config's sample source; write metrics.json, the samples' features, the config and the report.
    `display`: the post-processing that the report shows and evaluate.postprocessed scores."""
    torch.manual_seed(config.seed)
    reference = ReferenceSet(config, progress, display)
    source = open_sample_source(config, reference.resolution)
    evaluation = reference.score(source)
    out = Path(config.out_dir)
    files = EvaluateOutputs(out)
    with atomic_file(files.sample_features) as handle:
        torch.save({"standard": evaluation.inputs.fake, "catalog": evaluation.inputs.catalog_fake}, handle)
    detector = evaluation.result.details.get("detector")
    if detector is not None:  # the realism score of generate, serve and the gallery (registered with the model)
        detector.save(files.detector)
        if config.feature_extractor == "inception" and not config.postprocessed:  # the FID network's features of
            # the generator's own squares, which is what a registered model's scorer reads
            fit_realism_scorer(detector, reference.floor_features(), evaluation.inputs.fake,
                               evaluation.inputs.fake_display, config.pr_neighbours,
                               inception=reference.extractor).reference.save(files.realism)
        else:  # the model is ranked by its detector alone
            RealismReference.save_none(files.realism, f"evaluate.feature_extractor is {config.feature_extractor!r}"
                                       f"{' and evaluate.postprocessed is true' if config.postprocessed else ''}")
    if config.report:
        from gig_core.evaluation.report import write_report

        write_report(evaluation, reference, out)
    write_json(files.config, asdict(config))
    if config.headline_file:
        write_json(config.headline_file, headline_metrics(evaluation.result.values))
    write_json(files.metrics, evaluation.result.values)  # last: its presence means the rest is complete
    return evaluation.result.values


def load_sample_features(evaluate_dir: str | Path, space: str = "standard") -> torch.Tensor:
    """(M, F) features of the samples an evaluation scored, in the standard space or the catalog classifier's."""
    saved = torch.load(EvaluateOutputs(evaluate_dir).sample_features, map_location="cpu", weights_only=True)
    if isinstance(saved, torch.Tensor):  # written before there were two spaces: the catalog was the only one
        return saved
    if saved.get(space) is None:
        raise ValueError(f"{EvaluateOutputs(evaluate_dir).sample_features} holds no {space} features of the samples; "
                         f"rerun gig evaluate with the metric that needs them")
    return saved[space]


def load_evaluate_config(evaluate_dir: str | Path) -> EvaluateConfig:
    """The exact config an evaluation ran with, to score another model the same way."""
    return build(EvaluateConfig, json.loads(EvaluateOutputs(evaluate_dir).config.read_text()), "evaluate")
