"""What the realism filter does (issue #28, item 4): a generator scored with and without "draw 2x, keep the best
half", on the same reference set, by Inception FID, C2ST and within-class diversity.

The filter is the one `gig generate --realism-filter`, `gig serve` and the gallery apply: each image asked for
is drawn twice and the one the model's realism detector (its evaluation's C2ST detector, evaluate's
detector.pt) rates more real is kept, so the attribute mix and every condition cell stay as asked. The C2ST
figure of the filtered samples comes from a fresh detector, trained and tested as evaluate does. Writes a grid
of kept (top) and dropped (bottom) samples, as shown.

    .venv/bin/python benchmarks/realism_filter.py --data outputs/preprocess --generator outputs/train/generator.pt \
        --detector outputs/evaluate/detector.pt [--out benchmarks/realism]

With `--detector ""` the filter uses the detector that the unfiltered scoring just trained, which is the one
`gig evaluate` would have saved for this model on this reference set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gig_core.config import EvaluateConfig, PostprocessConfig
from gig_core.evaluation.evaluate import ReferenceSet
from gig_core.evaluation.sources import SampleSource, load_generator_file
from gig_core.models.detector import RealnessDetector
from gig_core.postprocess import as_shown
from gig_core.sampling import GeneratorBundle, grid_image, save_png

SHOWN = ["fid", "fid_bias_corrected", "fid_ci_low", "fid_ci_high", "fid_floor", "kid_mean", "kid_ci_low", "kid_ci_high",
         "c2st_accuracy", "c2st_ci_low", "c2st_ci_high", "c2st_floor", "within_class_diversity",
         "within_class_diversity_worst", "precision", "recall", "cond_acc_articleType", "cond_acc_baseColour"]


class BestOfTwo(GeneratorBundle):
    """A generator whose every sample is the more real of two draws, by the detector."""

    def __init__(self, bundle: GeneratorBundle, detector: RealnessDetector, display: PostprocessConfig):
        super().__init__(bundle.generator, bundle.arch, detector)
        self.display = display
        self.dropped: list[torch.Tensor] = []

    @torch.no_grad()
    def sample(self, n, labels=None, seed=0, batch_size=256):
        twice = {a: t.repeat(2) for a, t in (labels or {}).items()} or None  # draw k and draw k + n: same labels
        images = super().sample(2 * n, twice, seed, batch_size)  # (2n, 3, R, R)
        scores = self.detector.score_samples(images, self.display).view(2, n)
        first_wins = scores[0] >= scores[1]  # (n,)
        pairs = images.view(2, n, *images.shape[1:])
        self.dropped.append(torch.where(first_wins[:, None, None, None], pairs[1], pairs[0]))
        return torch.where(first_wins[:, None, None, None], pairs[0], pairs[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="outputs/preprocess")
    parser.add_argument("--generator", default="outputs/train/generator.pt")
    parser.add_argument("--detector", default="outputs/evaluate/detector.pt")
    parser.add_argument("--cache", default=".gig_cache")
    parser.add_argument("--max-images", type=int, default=2000)
    parser.add_argument("--out", default="benchmarks/realism")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    display = PostprocessConfig()
    config = EvaluateConfig(data_dir=args.data, cache_dir=args.cache, max_images=args.max_images,
                            metrics=["fid", "kid", "precision_recall", "conditional_accuracy", "within_class_diversity",
                                     "c2st"], report=False)
    reference = ReferenceSet(config, progress=True, display=display)
    bundle = load_generator_file(Path(args.generator))
    results = {}

    def scored(name: str, source: SampleSource):
        evaluation = reference.score(source)
        results[name] = {k: evaluation.result.values.get(k) for k in SHOWN}
        print(name, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in results[name].items()}),
              flush=True)
        return evaluation

    unfiltered = scored("without the filter", SampleSource("as drawn", bundle=bundle))
    detector = RealnessDetector.load(args.detector) if args.detector else unfiltered.result.details["detector"]
    filtered = BestOfTwo(bundle, detector, display)
    scored("best of 2 by realism", SampleSource("best of two", bundle=filtered))
    kept = filtered.sample(16, bundle.encode(reference.rows[:16]), seed=11)
    dropped = filtered.dropped[-1]
    save_png(grid_image(torch.cat([as_shown(kept, display), as_shown(dropped, display)]), 16),
             out / "kept_and_dropped.png")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"grid: {out / 'kept_and_dropped.png'} (top: kept, bottom: the draw each beat)")


if __name__ == "__main__":
    main()
