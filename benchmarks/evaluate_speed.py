"""Evaluation speed: feature extraction images/s, and a first against a cached evaluation.

On the 40k catalog in ../shared (or the bundled sample with --catalog sample) at 64x64:
  1. images/s of batched feature extraction: the catalog extractor (default), and the
     InceptionV3 architecture at FID's 299x299 input (torchvision, random weights: timing
     only; GIG never downloads the real FID weights);
  2. `evaluate` of a generator with an empty cache (fits the catalog extractor, extracts
     held-out and train features) against the same evaluation again (cache hit: only the
     generator's samples are made and scored), as when promotion re-scores the champion.

    .venv/bin/python benchmarks/evaluate_speed.py [--catalog ../shared/datasets/fashion-products-small]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.models import inception_v3

from gig_core.config import EvaluateConfig, IngestConfig, PreprocessConfig, TrainConfig
from gig_core.data.ingest import ingest_catalog
from gig_core.data.preprocess import load_split, preprocess_catalog
from gig_core.data.sample import sample_catalog_path
from gig_core.evaluation.evaluate import evaluate
from gig_core.evaluation.features import build_extractor, extract_features
from gig_core.training.trainer import train


class InceptionAt299(torch.nn.Module):
    """(B, 3, R, R) uint8 -> (B, 2048) pool features, resized to 299 as FID does."""

    def __init__(self):
        super().__init__()
        self.net = inception_v3(weights=None, aux_logits=False, init_weights=False)
        self.net.fc = torch.nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images.float() / 127.5 - 1, size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(x)


def images_per_second(extractor: torch.nn.Module, images: torch.Tensor, batch_size: int) -> float:
    extract_features(extractor, images[:batch_size], batch_size)  # warm-up
    started = time.perf_counter()
    extract_features(extractor, images, batch_size)
    return len(images) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", default="../shared/datasets/fashion-products-small", help="a folder, or 'sample'")
    parser.add_argument("--resolution", type=int, default=64)
    args = parser.parse_args()
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
        inception = InceptionAt299().eval()
        print(f"InceptionV3 at 299x299, batch 64   : {images_per_second(inception, sample[:256], 64):7.1f} images/s")


if __name__ == "__main__":
    main()
