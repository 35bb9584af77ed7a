"""What do standing statistics do to a trained generator? The same weights, scored with other batch-norm statistics.

Loads each saved generator (a generator.pt, or a checkpoint.pt's EMA), scores it as it is, then
again after `recompute_batch_norm_statistics` (gig_core/training/standing_stats.py) with each
`--batches` count, on quality.py's 64px reference (its preprocess output and evaluation cache),
with recipe_probe.py's metrics. Meant for generators saved before the trainer did this itself.

    .venv/bin/python benchmarks/standing_stats.py --at-quality /tmp/gig_quality2 \
        --batches 200,50 /tmp/gig_probe2/q64_seed1/generator.pt
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from recipe_probe import PROBE_METRICS, shown

from gig_core.config import EvaluateConfig
from gig_core.data.preprocess import load_split
from gig_core.evaluation.evaluate import ReferenceSet
from gig_core.evaluation.sources import SampleSource, load_generator_file
from gig_core.training.standing_stats import recompute_batch_norm_statistics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generators", nargs="+", help="generator.pt or checkpoint.pt files")
    parser.add_argument("--at-quality", required=True, metavar="QUALITY_WORK", help="quality.py's --work")
    parser.add_argument("--batches", default="200", help="standing-statistics batch counts, comma-separated")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per batch (the 64 preset's batch)")
    args = parser.parse_args()
    data, cache = Path(args.at_quality) / "pre", Path(args.at_quality) / "cache"
    if not (data / "train.pt").is_file():
        raise SystemExit(f"standing_stats.py: no 64px preprocess output at {data}; run benchmarks/quality.py first")
    reference = ReferenceSet(EvaluateConfig(
        data_dir=str(data), cache_dir=str(cache), out_dir="/tmp/gig_standing_stats_eval",
        metrics=PROBE_METRICS),
        progress=False)
    labels = load_split(data, "train").labels
    for path in args.generators:
        for batches in [0, *(int(b) for b in args.batches.split(","))]:
            bundle = load_generator_file(Path(path))
            started = time.perf_counter()
            recompute_batch_norm_statistics(bundle.generator, bundle.arch.z_dim,
                                            {a: labels[a] for a in bundle.arch.vocab}, batches, args.batch_size,
                                            seed=0)
            seconds = time.perf_counter() - started
            values = reference.score(SampleSource(Path(path).parent.name, bundle=bundle)).result.values
            statistics = f"its own, {batches} batches of {args.batch_size} ({seconds:.1f} s)" if batches else "as saved"
            print(path, statistics, json.dumps(shown(values)), flush=True)


if __name__ == "__main__":
    main()
