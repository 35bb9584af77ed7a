"""Evaluation speed: feature extraction images/s, and a first against a cached evaluation.

On the 40k catalog in ../shared (or the bundled sample with --catalog sample) at 64x64:
  1. images/s of batched feature extraction: the catalog extractor, and the standard FID
     InceptionV3 (evaluation/inception.py) at several batch sizes, interleaved so that a
     busy machine slows each alike (its CPU batch, inception.CPU_BATCH, is chosen from this);
  2. `evaluate` of a generator with an empty cache (fits the catalog extractor, extracts
     held-out and train features) against the same evaluation again (cache hit: only the
     generator's samples are made and scored), as when promotion re-scores the champion.

    .venv/bin/python benchmarks/evaluate_speed.py [--catalog ../shared/datasets/fashion-products-small]
        [--inception-only]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from gig_core.config import EvaluateConfig, IngestConfig, PreprocessConfig, TrainConfig
from gig_core.data.ingest import ingest_catalog
from gig_core.data.preprocess import load_split, preprocess_catalog
from gig_core.data.sample import sample_catalog_path
from gig_core.evaluation.evaluate import evaluate
from gig_core.evaluation.features import build_extractor, extract_features
from gig_core.evaluation.inception import FidInception
from gig_core.training.trainer import train


def images_per_second(extractor: torch.nn.Module, images: torch.Tensor, batch_size: int) -> float:
    extract_features(extractor, images[:batch_size], batch_size)  # warm-up
    started = time.perf_counter()
    extract_features(extractor, images, batch_size)
    return len(images) / (time.perf_counter() - started)


@torch.no_grad()
def inception_speeds(images: torch.Tensor, batches=(2, 4, 8, 32, 64), rounds: int = 3) -> None:
    """The FID InceptionV3's images/s per forward batch size, best of `rounds` interleaved rounds."""
    net = FidInception()
    net(images[:4])  # warm-up
    best = dict.fromkeys(batches, 0.0)
    for _ in range(rounds):
        for b in batches:
            started = time.perf_counter()
            for i in range(0, len(images), b):
                net(images[i:i + b])
            best[b] = max(best[b], len(images) / (time.perf_counter() - started))
    for b in batches:
        print(f"FID InceptionV3, batch {b:3d}         : {best[b]:7.1f} images/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", default="../shared/datasets/fashion-products-small", help="a folder, or 'sample'")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--inception-only", action="store_true", help="only the Inception batch sizes")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores, torch {torch.__version__}")
    inception_speeds(torch.randint(0, 256, (128, 3, args.resolution, args.resolution), dtype=torch.uint8,
                                   generator=torch.Generator().manual_seed(0)))
    if args.inception_only:
        return
    source = str(sample_catalog_path()) if args.catalog == "sample" else args.catalog
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ingest_catalog(IngestConfig(source=source, out_dir=str(tmp / "ingest")), progress=False)
        preprocess_catalog(PreprocessConfig(ingest_dir=str(tmp / "ingest"), out_dir=str(tmp / "pre"),
                                            resolution=args.resolution), progress=False)
        train_split, heldout = load_split(tmp / "pre", "train"), load_split(tmp / "pre", "heldout")
        print(f"catalog: {source}: {len(train_split)} train / {len(heldout)} held-out images at {args.resolution}px, "
              f"{os.cpu_count()} CPU cores, torch {torch.__version__}")
        train(TrainConfig(preset="64" if args.resolution == 64 else "demo", resolution=args.resolution, model="dcgan",
                          data_dir=str(tmp / "pre"), out_dir=str(tmp / "train"), steps=20, resume="",
                          checkpoint_every=0, collapse_threshold=0.0), progress=False)
        config = EvaluateConfig(data_dir=str(tmp / "pre"), train_dir=str(tmp / "train"), cache_dir=str(tmp / "cache"),
                                out_dir=str(tmp / "evaluate"))
        for label in ("first evaluation (empty cache)", "re-evaluation (cached)"):
            started = time.perf_counter()
            metrics = evaluate(config, progress=False)
            print(f"{label:34s}: {time.perf_counter() - started:6.1f} s  (FID {metrics['fid']:.2f}, "
                  f"{metrics['num_samples']} samples, every metric and the report)")

        catalog = build_extractor(config, progress=False)
        sample = train_split.images[:4096]
        print(f"catalog extractor, batch 256       : {images_per_second(catalog, sample, 256):7.0f} images/s")


if __name__ == "__main__":
    main()
