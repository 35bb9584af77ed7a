"""What BigGAN's truncation trick does here (issue #29, "Sampling"): one generator scored at several truncation
thresholds on the same reference set, by Inception FID, C2ST, within-class diversity, recall and conditional
accuracy. A threshold t draws every noise value within +-t (sampling.py's GeneratorBundle.latents); 0 is the
plain normal the model trained on. Each row also has its FID change against the untruncated draws, paired on the
same real photos (> 0: better).

    .venv/bin/python benchmarks/truncation.py --data outputs/preprocess --generator outputs/train/generator.pt \\
        [--values 0 2 1.5 1 0.5] [--max-images 2000] [--out benchmarks/truncation]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from paired_change import paired_change

from gig_core.config import EvaluateConfig, PostprocessConfig
from gig_core.evaluation.evaluate import ReferenceSet
from gig_core.evaluation.sources import SampleSource, load_generator_file
from gig_core.postprocess import as_shown
from gig_core.sampling import GeneratorBundle, grid_image, save_png

SHOWN = ["fid", "fid_bias_corrected", "fid_ci_low", "fid_ci_high", "fid_floor", "kid_mean", "c2st_accuracy",
         "c2st_ci_low", "c2st_ci_high", "c2st_floor", "within_class_diversity", "within_class_diversity_worst",
         "precision", "recall", "cond_acc_articleType", "real_acc_articleType", "cond_acc_baseColour",
         "real_acc_baseColour"]


class Truncated(GeneratorBundle):
    """The same generator, its noise drawn within +-threshold."""

    def __init__(self, bundle: GeneratorBundle, threshold: float):
        super().__init__(bundle.generator, bundle.arch)
        self.threshold = threshold

    def latents(self, n: int, seed: int = 0, truncation: float = 0.0) -> torch.Tensor:
        return super().latents(n, seed, truncation or self.threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="outputs/preprocess")
    parser.add_argument("--generator", default="outputs/train/generator.pt")
    parser.add_argument("--cache", default=".gig_cache")
    parser.add_argument("--max-images", type=int, default=2000)
    parser.add_argument("--values", type=float, nargs="+", default=[0.0, 2.0, 1.5, 1.0, 0.5])
    parser.add_argument("--out", default="benchmarks/truncation")
    args = parser.parse_args()
    if any(v < 0 for v in args.values):
        parser.error("--values are thresholds in standard deviations: 0 (off) or more")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    display = PostprocessConfig()
    config = EvaluateConfig(data_dir=args.data, cache_dir=args.cache, max_images=args.max_images, report=False,
                            metrics=["fid", "kid", "precision_recall", "conditional_accuracy",
                                     "within_class_diversity", "c2st"])
    reference = ReferenceSet(config, progress=True, display=display)
    bundle = load_generator_file(Path(args.generator))
    grid_labels = bundle.encode(reference.rows[:16])
    results, baseline, grids = {}, None, []
    for threshold in args.values:
        name = f"truncation {threshold:g}" if threshold else "no truncation"
        started = time.perf_counter()
        truncated = Truncated(bundle, threshold)
        evaluation = reference.score(SampleSource(name, bundle=truncated))
        values = evaluation.result.values
        row = {k: values.get(k) for k in SHOWN}
        if baseline is None:
            baseline = evaluation
        else:  # paired against the untruncated draws (the first value), on the same real photos
            row |= paired_change(reference, baseline, evaluation)
        results[name] = row
        grids.append(as_shown(truncated.sample(16, grid_labels, seed=11), display))  # (16, 3, 128, 96)
        print(name, f"({time.perf_counter() - started:.0f} s)",
              json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        save_png(grid_image(torch.cat(grids), 16), out / "grid.png")  # a row per threshold so far, the same labels
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")  # and seed; after each row
    print(f"grid: {out}/grid.png (a row per threshold, in the order of --values)")


if __name__ == "__main__":
    main()
