"""How fast does a training recipe learn its conditions? Short hcgan runs on the 40k catalog.

The quality benchmark (benchmarks/quality.py) trains one epoch at 64px, about 40 minutes a run
on a 2-core CPU without fast bf16; too slow to compare learning rates with. By default this
probe trains the demo preset (32px, 32 channels) for `--steps` steps on the whole catalog
(about a minute a run there) and scores each run with `gig evaluate`'s reference set, so
recipes can be ranked by how far they get in a short run: FID, recall, conditional accuracy
against the real photos', within-class diversity and copies.

    .venv/bin/python benchmarks/recipe_probe.py [--steps 400] \
        '{}' '{"lr_g": 4e-4, "lr_d": 4e-4}' '{"lr_g": 4e-4, "lr_d": 4e-4, "beta1": 0.0}' ...

Each argument is a JSON object of train overrides on top of params.yaml's train section
(`{}` = params.yaml as it is). Needs the ingest output of benchmarks/quality.py (--ingest).

`--at-quality` probes at quality.py's own setting instead: the '64' preset with bf16 autocast
and channels_last, on quality.py's 64px preprocess output and evaluation cache (so the figures
compare with its results.json), each run seeing `--images` images (39,936: one epoch of the
classic example) in steps of its own batch. About 5 minutes a run on a CPU with fast bf16
(AVX512-BF16).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from quality import equal_images_config

from gig_core.config import EvaluateConfig, PreprocessConfig, load_section
from gig_core.data.preprocess import preprocess_catalog
from gig_core.evaluation.evaluate import ReferenceSet
from gig_core.evaluation.sources import SampleSource, load_generator_file
from gig_core.training.trainer import train

SHOWN = ["fid", "fid_bias_corrected", "fid_ci_low", "fid_ci_high", "fid_floor", "c2st_accuracy", "c2st_floor",
         "recall", "precision", "coverage", "cond_acc_articleType", "real_acc_articleType",
         "cond_acc_baseColour", "real_acc_baseColour", "within_class_diversity", "within_class_diversity_worst",
         "memorized_share", "memorization_near_share", "blank_share"]
PROBE_METRICS = ["fid", "precision_recall", "conditional_accuracy", "within_class_diversity", "memorization", "blank",
                 "c2st"]


def shown(values: dict) -> dict:
    """The SHOWN figures, rounded for a line of output; a share to 0.01%: one sample in 5,989 is 0.017%."""
    return {k: round(values[k], 4 if k.endswith("share") else 3) if isinstance(values.get(k), float)
            else values.get(k) for k in SHOWN}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="*", help="JSON objects of train overrides")
    parser.add_argument("--score", action="append", default=[], metavar="GENERATOR",
                        help="a generator.pt already trained, scored on the same reference first (a baseline); "
                             "repeatable")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--ingest", default="/tmp/gig_quality/ingest", help="an ingest output of the 40k catalog")
    parser.add_argument("--work", default="/tmp/gig_probe")
    parser.add_argument("--at-quality", default="", metavar="QUALITY_WORK",
                        help="quality.py's --work (e.g. /tmp/gig_quality): probe at its 64px setting and reference")
    parser.add_argument("--images", type=int, default=624 * 64, help="with --at-quality: images each run sees")
    args = parser.parse_args()
    work = Path(args.work)
    if args.at_quality:
        data, cache = Path(args.at_quality) / "pre", Path(args.at_quality) / "cache"
        if not (data / "train.pt").is_file():
            raise SystemExit(f"recipe_probe.py: no 64px preprocess output at {data}; run benchmarks/quality.py first")
        setting = dict(preset="64", amp=True, channels_last=True)
    else:
        data, cache, setting = work / "pre32", work / "cache", dict(steps=args.steps)
        if not (Path(args.ingest) / "catalog.parquet").is_file():
            raise SystemExit(f"recipe_probe.py: no ingest output at {args.ingest}; run benchmarks/quality.py first "
                             f"or give --ingest")
        if not (data / "train.pt").is_file():
            preprocess_catalog(PreprocessConfig(ingest_dir=args.ingest, out_dir=str(data), resolution=32),
                               progress=False)
    reference = ReferenceSet(EvaluateConfig(
        data_dir=str(data), cache_dir=str(cache), out_dir=str(work / "eval"),
        metrics=PROBE_METRICS),
        progress=False)
    for path in args.score:
        values = reference.score(SampleSource(path, bundle=load_generator_file(Path(path)))).result.values
        print(path, json.dumps(shown(values)), flush=True)
    for recipe in args.recipes:
        overrides = json.loads(recipe)
        name = "_".join(f"{k}{v}" for k, v in overrides.items()) or "params.yaml"
        name = f"q64_{name}" if args.at_quality else name
        overrides = {**dict(data_dir=str(data), out_dir=str(work / name), tracking_uri="", checkpoint_every=0,
                            sample_every=10**9, resume=""), **setting, **overrides}
        config = (equal_images_config(overrides, args.images) if args.at_quality  # the same images whatever the batch
                  else load_section("train", "params.yaml", overrides))
        started = time.perf_counter()
        train(config, progress=False)
        seconds = time.perf_counter() - started
        values = reference.score(
            SampleSource(name, bundle=load_generator_file(work / name / "generator.pt"))
        ).result.values
        print(recipe, f"{config.steps} steps of {config.batch_size}, {seconds:.0f} s", json.dumps(shown(values)),
              flush=True)


if __name__ == "__main__":
    main()
