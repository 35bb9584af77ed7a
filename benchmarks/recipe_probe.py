"""How fast does a training recipe learn its conditions? Short hcgan runs on the 40k catalog at 32px.

The quality benchmark (benchmarks/quality.py) trains one epoch at 64px, about 40 minutes a run
on this CPU; too slow to compare learning rates with. This probe trains the demo preset
(32px, 32 channels) for `--steps` steps on the whole catalog (about a minute a run here) and
scores each run with `gig evaluate`'s reference set, so recipes can be ranked by how far they
get in a short run: FID, recall, conditional accuracy against the real photos', and
within-class diversity.

    .venv/bin/python benchmarks/recipe_probe.py [--steps 400] \
        '{}' '{"lr_g": 4e-4, "lr_d": 4e-4}' '{"lr_g": 4e-4, "lr_d": 4e-4, "beta1": 0.0}' ...

Each argument is a JSON object of train overrides on top of params.yaml's train section
(`{}` = params.yaml as it is). Needs the ingest output of benchmarks/quality.py (--ingest).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from gig_core.config import EvaluateConfig, PreprocessConfig, load_section
from gig_core.data.preprocess import preprocess_catalog
from gig_core.evaluation.evaluate import ReferenceSet
from gig_core.evaluation.sources import SampleSource, load_generator_file
from gig_core.training.trainer import train

SHOWN = ["fid", "recall", "precision", "cond_acc_articleType", "real_acc_articleType", "cond_acc_baseColour",
         "real_acc_baseColour", "within_class_diversity", "within_class_diversity_worst"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="+", help="JSON objects of train overrides")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--ingest", default="/tmp/gig_quality/ingest", help="an ingest output of the 40k catalog")
    parser.add_argument("--work", default="/tmp/gig_probe")
    args = parser.parse_args()
    work, data = Path(args.work), Path(args.work) / "pre32"
    if not (Path(args.ingest) / "catalog.parquet").is_file():
        raise SystemExit(f"recipe_probe.py: no ingest output at {args.ingest}; run benchmarks/quality.py first or "
                         f"give --ingest")
    if not (data / "train.pt").is_file():
        preprocess_catalog(PreprocessConfig(ingest_dir=args.ingest, out_dir=str(data), resolution=32), progress=False)
    reference = ReferenceSet(EvaluateConfig(
        data_dir=str(data), cache_dir=str(work / "cache"), out_dir=str(work / "eval"),
        metrics=["fid", "precision_recall", "conditional_accuracy", "within_class_diversity"]), progress=False)
    for recipe in args.recipes:
        overrides = json.loads(recipe)
        name = "_".join(f"{k}{v}" for k, v in overrides.items()) or "params.yaml"
        config = load_section("train", "params.yaml", dict(
            data_dir=str(data), out_dir=str(work / name), steps=args.steps, tracking_uri="", checkpoint_every=0,
            sample_every=10**9, resume="", **overrides))
        started = time.perf_counter()
        train(config, progress=False)
        seconds = time.perf_counter() - started
        values = reference.score(
            SampleSource(name, bundle=load_generator_file(work / name / "generator.pt"))
        ).result.values
        shown = {k: round(values[k], 3) if isinstance(values.get(k), float) else values.get(k) for k in SHOWN}
        print(recipe, f"{seconds:.0f} s", json.dumps(shown), flush=True)


if __name__ == "__main__":
    main()
