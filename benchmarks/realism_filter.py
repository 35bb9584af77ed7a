"""What the realism filter does (issue #28, item 4): a generator scored with and without "draw 2x, keep the best
half", on the same reference set, by Inception FID, C2ST and within-class diversity, for each way of scoring an
image's realism.

Each image asked for is drawn twice (once more: four times) and the draw the scorer rates most real is kept, so the
attribute mix and every condition cell stay as asked (rejection sampling as in Discriminator Rejection Sampling,
Azadi et al. 2019). The C2ST figure of the filtered samples comes from a fresh detector, trained and tested as
evaluate does. Scorers:
  - evaluate's detector alone: what the filter ranked by before the combined score (evaluate's detector.pt,
    trained on half of the held-out photos, as shown, against half of the samples). With `--detector ""`, the
    one the unfiltered scoring just trained, which is what `gig evaluate` would save;
  - a detector at the model's resolution: the same network, trained on training photos brought down to the
    model's resolution (then shown as the samples are) against fresh samples, so that resolution alone cannot
    give a sample away and only the generator's own defects separate the two draws;
  - the Inception realism score (Kynkaanniemi et al. 2019): how deep a draw lies inside the k-nearest-neighbour
    balls of training photos in the FID network's features (costs an Inception pass per draw);
  - evaluate's detector and the realism score together (logit and log score, each standardised by its spread over
    the unfiltered samples, summed): what `gig generate --realism-filter`, `gig serve` and the gallery apply, built
    by the product's own code (evaluation/realism.py's fit_realism_scorer, as evaluate does);
  - the discriminator: the GAN's own critic from the training checkpoint, given each draw's labels (with
    `--checkpoint`).
Each filtered row also has its FID gain over the unfiltered draws, paired on the same real photos (fid_gain, > 0:
better), and the interval of its change in C2ST accuracy. Writes, per scorer, a grid of kept (top) and dropped
(bottom: the least real draw) samples as shown, and every figure to results.json.

    .venv/bin/python benchmarks/realism_filter.py --data outputs/preprocess --generator outputs/train/generator.pt \
        --detector outputs/evaluate/detector.pt [--checkpoint outputs/train/checkpoint.pt] [--out benchmarks/realism]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from paired_change import paired_change

from gig_core.config import EvaluateConfig, PostprocessConfig
from gig_core.evaluation.c2st import fit_detector
from gig_core.evaluation.evaluate import ReferenceSet
from gig_core.evaluation.features import extract_features
from gig_core.evaluation.realism import InceptionReference, fit_realism_scorer
from gig_core.evaluation.sources import SampleSource, load_generator_file
from gig_core.models.detector import RealnessDetector
from gig_core.postprocess import as_shown
from gig_core.sampling import GeneratorBundle, grid_image, save_png, to_float
from gig_core.training.checkpoint import load_parts

SHOWN = ["fid", "fid_bias_corrected", "fid_ci_low", "fid_ci_high", "fid_floor", "kid_mean", "kid_ci_low", "kid_ci_high",
         "c2st_accuracy", "c2st_ci_low", "c2st_ci_high", "c2st_floor", "within_class_diversity",
         "within_class_diversity_worst", "precision", "recall", "cond_acc_articleType", "cond_acc_baseColour"]

SCORERS = ["evaluate_detector", "evaluate_detector_of_4", "model_resolution_detector", "inception_realism_score",
           "combined", "discriminator"]
Scorer = Callable[[torch.Tensor, dict | None], torch.Tensor]  # (N, 3, R, R) uint8, labels -> (N,) higher: more real


class BestOf(GeneratorBundle):
    """A generator whose every sample is the most real of `draws` draws with the same labels, by `scorer`."""

    def __init__(self, bundle: GeneratorBundle, scorer: Scorer, draws: int = 2):
        super().__init__(bundle.generator, bundle.arch)
        self.scorer, self.draws = scorer, draws
        self.dropped: list[torch.Tensor] = []  # the least real draw of each image, for the grid

    @torch.no_grad()
    def sample(self, n, labels=None, seed=0, batch_size=256):
        k = self.draws
        repeated = {a: t.repeat(k) for a, t in (labels or {}).items()} or None  # draws i, i + n, ...: same labels
        images = super().sample(k * n, repeated, seed, batch_size)  # (k * n, 3, R, R)
        scores = self.scorer(images, repeated).view(k, n)
        draws = images.view(k, n, *images.shape[1:])  # (k, n, 3, R, R)
        columns = torch.arange(n)
        self.dropped.append(draws[scores.argmin(0), columns])
        return draws[scores.argmax(0), columns]  # (n, 3, R, R)


def detector_scorer(detector: RealnessDetector, display: PostprocessConfig) -> Scorer:
    return lambda images, labels: detector.score_samples(images, display)


def model_resolution_scorer(reference: ReferenceSet, bundle: GeneratorBundle, display: PostprocessConfig,
                            epochs: int) -> Scorer:
    """A detector of training photos at the model's resolution against fresh samples (seeds no scoring uses)."""
    real = as_shown(reference.floor_images(), display)  # (N, 3, H, W) uint8 at DISPLAY_SIZE
    fakes = bundle.sample(len(real), bundle.encode(reference.rows, unknown="random"), seed=10_007)
    detector = fit_detector(real, as_shown(fakes, display), epochs, seed=7, progress=True)
    return detector_scorer(detector, display)


def inception_realism_scorer(reference: ReferenceSet, k: int) -> Scorer:
    """Kynkaanniemi et al. 2019's realism score in Inception space (evaluation/realism.py), against the training
    floor photos, never the held-out ones the scoring compares with."""
    manifold = InceptionReference.from_photos(reference.floor_features(), k)
    return lambda images, labels: manifold.log_realism(
        extract_features(reference.extractor, images, desc="realism-score draws"))


def product_scorer(detector: RealnessDetector, display: PostprocessConfig, reference: ReferenceSet, k: int,
                   unfiltered) -> Scorer:
    """What `gig evaluate` saves and a registered model ranks by (evaluation/realism.py): the detector and the
    Inception realism score, each standardised by its spread over the unfiltered evaluation's samples."""
    scorer = fit_realism_scorer(detector, reference.floor_features(), unfiltered.inputs.fake,
                                unfiltered.inputs.fake_display, k, inception=reference.extractor)
    return lambda images, labels: scorer.score_samples(images, display)


def discriminator_scorer(checkpoint: Path) -> Scorer:
    critic = load_parts(checkpoint)["discriminator"].eval()

    @torch.no_grad()
    def score(images: torch.Tensor, labels: dict | None) -> torch.Tensor:
        chunks = [critic(to_float(images[i:i + 256]), {a: t[i:i + 256] for a, t in (labels or {}).items()}).float()
                  for i in range(0, len(images), 256)]
        return torch.cat(chunks).view(-1)  # (N,) logits

    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="outputs/preprocess")
    parser.add_argument("--generator", default="outputs/train/generator.pt")
    parser.add_argument("--detector", default="outputs/evaluate/detector.pt")
    parser.add_argument("--checkpoint", default="", help="the training checkpoint, for the discriminator's scores")
    parser.add_argument("--cache", default=".gig_cache")
    parser.add_argument("--max-images", type=int, default=2000)
    parser.add_argument("--out", default="benchmarks/realism")
    parser.add_argument("--scorers", nargs="*", default=None, choices=SCORERS,
                        help="the attempts to run (default: all; the discriminator only with --checkpoint)")
    args = parser.parse_args()
    if "discriminator" in (args.scorers or []) and not args.checkpoint:
        parser.error("--scorers discriminator needs --checkpoint (the training checkpoint that holds the critic)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    display = PostprocessConfig()
    config = EvaluateConfig(data_dir=args.data, cache_dir=args.cache, max_images=args.max_images,
                            metrics=["fid", "kid", "precision_recall", "conditional_accuracy", "within_class_diversity",
                                     "c2st"], report=False)
    reference = ReferenceSet(config, progress=True, display=display)
    bundle = load_generator_file(Path(args.generator))
    results = {}
    grid_labels = bundle.encode(reference.rows[:16])

    def scored(name: str, source: SampleSource, baseline=None):
        started = time.perf_counter()
        evaluation = reference.score(source)
        values = evaluation.result.values
        results[name] = {k: values.get(k) for k in SHOWN}
        if baseline is not None:  # paired against the unfiltered draws: the reference set's noise cancels
            results[name] |= paired_change(reference, baseline, evaluation)
        print(name, f"({time.perf_counter() - started:.0f} s)",
              json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in results[name].items()}), flush=True)
        return evaluation

    def filtered(name: str, slug: str, scorer: Scorer, draws: int = 2) -> None:
        best = BestOf(bundle, scorer, draws)
        scored(name, SampleSource(name, bundle=best), unfiltered)
        kept = best.sample(16, grid_labels, seed=11)  # (16, 3, R, R)
        save_png(grid_image(torch.cat([as_shown(kept, display), as_shown(best.dropped[-1], display)]), 16),
                 out / f"kept_and_dropped_{slug}.png")

    unfiltered = scored("without the filter", SampleSource("as drawn", bundle=bundle))
    detector = RealnessDetector.load(args.detector) if args.detector else unfiltered.result.details["detector"]
    attempts = {  # slug: (row, draws per image, scorer builder)
        "evaluate_detector": ("best of 2 by evaluate's detector", 2, lambda: detector_scorer(detector, display)),
        "evaluate_detector_of_4": ("best of 4 by evaluate's detector", 4, lambda: detector_scorer(detector, display)),
        "model_resolution_detector": ("best of 2 by a detector at the model's resolution", 2,
                                      lambda: model_resolution_scorer(reference, bundle, display,
                                                                      config.detector_epochs)),
        "inception_realism_score": ("best of 2 by Inception realism score", 2,
                                    lambda: inception_realism_scorer(reference, config.pr_neighbours)),
        "combined": ("best of 2 by the detector and the realism score together", 2,
                     lambda: product_scorer(detector, display, reference, config.pr_neighbours, unfiltered)),
        "discriminator": ("best of 2 by the discriminator", 2, lambda: discriminator_scorer(Path(args.checkpoint))),
    }
    assert list(attempts) == SCORERS
    for slug in args.scorers or [s for s in SCORERS if s != "discriminator" or args.checkpoint]:
        name, draws, build = attempts[slug]
        filtered(name, slug, build(), draws)
    path = out / "results.json"  # rows of an earlier run that this one did not repeat are kept
    earlier = json.loads(path.read_text()) if path.is_file() and args.scorers else {}
    path.write_text(json.dumps(earlier | results, indent=2) + "\n")
    print(f"grids: {out}/kept_and_dropped_*.png (top: kept, bottom: the draw each beat)")


if __name__ == "__main__":
    main()
