"""Does post-processing cost quality? FID and within-class diversity of one generator, raw and
post-processed, each scored on the same footing.

After `make demo` (the demo's train and preprocess outputs, params.yaml's evaluate and
postprocess sections), three evaluations of outputs/train's generator:
  raw           the model's squares against the held-out photos, as `gig evaluate` scores them;
  postprocessed both the samples and the real photos made display-ready, then padded and resized
                back to the reference resolution (evaluate.postprocessed): like with like;
  display only  the post-processed samples against the raw real photos: what the transform
                changes about the images' framing, which FID also counts.

    .venv/bin/python benchmarks/postprocess_quality.py [--out /tmp/gig-postprocess]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from gig_core.config import load_section
from gig_core.evaluation.evaluate import ReferenceSet, display_footing, evaluate
from gig_core.evaluation.features import extract_features
from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics import compute_metrics
from gig_core.evaluation.sources import open_sample_source

SHOWN = ("fid", "fid_bias_corrected", "fid_ci_low", "fid_ci_high", "within_class_diversity",
         "within_class_diversity_worst", "precision", "recall")


def display_only(config, display) -> dict:
    """FID and precision/recall of the post-processed samples against the raw held-out photos."""
    reference = ReferenceSet(config, progress=False, display=display)
    fakes, rows = reference.samples(open_sample_source(config, reference.resolution))
    shown = display_footing(fakes, display)  # (M, 3, R, R): only the samples are post-processed
    inputs = EvaluationInputs(config=config, real=reference.features,
                              fake=extract_features(reference.extractor, shown, config.batch_size),
                              real_images=reference.images, fake_images=shown, train=reference.features[:0],
                              real_rows=reference.rows, fake_rows=rows, vocab=reference.vocab, classifier=None,
                              cells=None)
    return compute_metrics(["fid", "precision_recall"], inputs).values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="/tmp/gig-postprocess")
    args = parser.parse_args()
    config = replace(load_section("evaluate"), report=False, headline_file="")
    display = load_section("postprocess")
    rows = {}
    for name, postprocessed in (("raw", False), ("postprocessed", True)):
        started = time.perf_counter()
        rows[name] = evaluate(replace(config, out_dir=f"{args.out}/{name}", postprocessed=postprocessed),
                              progress=False, display=display)
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    rows["display only"] = display_only(config, display)
    print("\n| scored | " + " | ".join(SHOWN) + " |\n|" + " --- |" * (len(SHOWN) + 1))
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(f"{values[k]:.3f}" if k in values else "" for k in SHOWN) + " |")


if __name__ == "__main__":
    main()
