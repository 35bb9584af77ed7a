"""Is the catalog feature extractor the same feature space from run to run?

Every evaluation metric (FID, recall, conditional accuracy, copies) is computed in the feature
space of `gig_core/evaluation/features.py`'s catalog extractor, which is trained on the catalog
when the evaluation cache is built. This fits it on a preprocess output with several seeds and
prints each fit's accuracy on the held-out split (the classifier heads' share of right
articleType / baseColour answers): a stable recipe gives about the same figures for every seed.

    .venv/bin/python benchmarks/extractor_stability.py --data /tmp/gig_quality/pre [--seeds 0 1] [--steps 300]

--data: a preprocess output (e.g. benchmarks/quality.py's --work/pre, the 40k catalog at 64px).
"""

from __future__ import annotations

import argparse
import time

import torch

from gig_core.data.preprocess import TensorSplit, load_split
from gig_core.evaluation.features import extract_features, train_catalog_extractor


def heldout_accuracy(model, heldout: TensorSplit) -> dict[str, float]:
    features = extract_features(model, heldout.images).float()  # (N, 128)
    with torch.no_grad():
        return {a: round(float((head(features).argmax(1) == heldout.labels[a]).float().mean()), 3)
                for a, head in model.heads.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a preprocess output folder (train.pt, heldout.pt)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=300, help="evaluate.extractor_steps")
    args = parser.parse_args()
    heldout = load_split(args.data, "heldout")
    for seed in args.seeds:
        started = time.perf_counter()
        model = train_catalog_extractor(args.data, args.steps, seed=seed, progress=False)
        seconds = time.perf_counter() - started
        print(f"seed {seed}, {args.steps} steps: held-out accuracy {heldout_accuracy(model, heldout)}, "
              f"fitted in {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
