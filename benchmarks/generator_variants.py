"""Which conditional generator varies within a product type? (issue #10)

Each variant trains on the bundled sample catalog with the demo recipe of params.yaml (32x32,
the preset's batch, `--steps` steps; the variant changes only the family, its generator block and
the weight of the mode-seeking term; the table in benchmarks/README.md was made at batch 64, the
demo's batch until the batch-size probe), then `gig evaluate`'s metrics score it on the held-out split:
FID, within-class diversity per articleType x baseColour cell, cell recall, z-sensitivity,
recall/precision, conditional accuracy and copies.

    .venv/bin/python benchmarks/generator_variants.py [--variants cgan,hcgan] [--steps 1500]
        [--work /tmp/gig_variants] [--out benchmarks/variants]

Grids go to --out/<variant>.png, figures to --out/results.json (merged with earlier runs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gig_core.config import EvaluateConfig, IngestConfig, PreprocessConfig, load_section
from gig_core.data.ingest import ingest_catalog
from gig_core.data.preprocess import preprocess_catalog
from gig_core.data.sample import sample_catalog_path
from gig_core.evaluation.evaluate import ReferenceSet
from gig_core.evaluation.sources import SampleSource, load_generator_file
from gig_core.models import FAMILIES, Family
from gig_core.models.cgan import ProjectionDiscriminator
from gig_core.models.hcgan import HierarchicalGenerator
from gig_core.training.trainer import train


def _hcgan_with(block: str) -> Family:
    """The hcgan family with another generator block (see gig_core/models/hcgan.py)."""
    return Family(
        build=lambda a: {"generator": HierarchicalGenerator(a.z_dim, a.g_channels, a.resolution, a.vocab_sizes,
                                                            a.embed_dim, block=block),
                         "discriminator": ProjectionDiscriminator(a.d_channels, a.resolution, a.vocab_sizes)},
        objective="gan", loss="hinge", conditional=True)


FAMILIES["hcgan-deconv"] = _hcgan_with("deconv")
FAMILIES["hcgan-residual"] = _hcgan_with("residual")

# name -> train overrides on top of params.yaml's train section (the demo recipe)
VARIANTS: dict[str, dict] = {
    "cgan": dict(model="cgan", diversity_weight=0.0),
    "cgan+ms0.05": dict(model="cgan", diversity_weight=0.05),
    "cgan+ms0.2": dict(model="cgan", diversity_weight=0.2),
    "cgan+ms1": dict(model="cgan", diversity_weight=1.0),
    "hcgan-deconv": dict(model="hcgan-deconv", diversity_weight=0.0),
    "hcgan-deconv+ms0.1": dict(model="hcgan-deconv", diversity_weight=0.1),
    "hcgan-deconv+ms0.3": dict(model="hcgan-deconv", diversity_weight=0.3),
    "hcgan-deconv+ms1": dict(model="hcgan-deconv", diversity_weight=1.0),
    "hcgan+ms0": dict(model="hcgan", diversity_weight=0.0),
    "hcgan": dict(model="hcgan", diversity_weight=0.05),
    "hcgan+ms0.1": dict(model="hcgan", diversity_weight=0.1),
    "hcgan-residual": dict(model="hcgan-residual", diversity_weight=0.05),
}
KEYS = ["fid", "within_class_diversity", "within_class_diversity_worst", "within_class_diversity_worst_cell",
        "cell_recall", "cell_coverage", "z_sensitivity", "z_sensitivity_real", "recall", "precision",
        "cond_acc_articleType", "real_acc_articleType", "cond_acc_baseColour", "real_acc_baseColour", "memorized_share"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=0, help="0 = the demo's")
    parser.add_argument("--work", default="/tmp/gig_variants", help="preprocessed data and the extractor cache")
    parser.add_argument("--out", default="benchmarks/variants")
    args = parser.parse_args()
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    if not (work / "pre" / "train.pt").is_file():
        ingest_catalog(IngestConfig(source=str(sample_catalog_path()), out_dir=str(work / "ingest")), progress=False)
        preprocess_catalog(PreprocessConfig(ingest_dir=str(work / "ingest"), out_dir=str(work / "pre")), progress=False)
    reference = ReferenceSet(EvaluateConfig(data_dir=str(work / "pre"), cache_dir=str(work / "cache"),
                                            out_dir=str(work / "eval")), progress=False)
    for name in args.variants.split(","):
        overrides = dict(VARIANTS[name], data_dir=str(work / "pre"), out_dir=str(work / name), checkpoint_every=0,
                         tracking_uri="", collapse_threshold=0.0)
        if args.steps:
            overrides["steps"] = args.steps
        config = load_section("train", "params.yaml", overrides)
        torch.manual_seed(0)
        started = time.perf_counter()
        summary = train(config, progress=False)
        seconds = time.perf_counter() - started
        values = reference.score(
            SampleSource(name, bundle=load_generator_file(work / name / "generator.pt"))
        ).result.values
        key = name if not args.steps else f"{name}@{args.steps}"
        results[key] = {
            "seconds": round(seconds, 1),
            "images_per_s": summary["images_per_second"],
            "steps": config.steps,
            **{k: values.get(k) for k in KEYS},
        }
        (out / f"{key}.png").write_bytes((work / name / "grid.png").read_bytes())
        print(
            key,
            json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results[key].items()}),
            flush=True,
        )
        results_file.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
