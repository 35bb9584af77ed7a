"""Preprocessing speed on the 40k catalog: ours against a plain single-process PIL loop.

Both decode every photo and produce a 64x64 uint8 RGB array; ours also pads onto a white
square (the plain loop squashes instead). Files are read once beforehand so both start from
a warm page cache. Run from the repository root:

    .venv/bin/python benchmarks/preprocess_speed.py [--catalog ../shared/datasets/fashion-products-small]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from gig_core.config import IngestConfig
from gig_core.data.ingest import ingest_catalog, read_catalog
from gig_core.data.preprocess import square_images


def plain_pil_loop(paths: list[Path], resolution: int) -> np.ndarray:
    out = np.empty((len(paths), resolution, resolution, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            out[i] = np.asarray(image.convert("RGB").resize((resolution, resolution)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", default="../shared/datasets/fashion-products-small")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ingest_catalog(IngestConfig(source=args.catalog, out_dir=f"{tmp}/ingest", workers=args.workers), progress=False)
        ingest_seconds = time.perf_counter() - started
        catalog = read_catalog(f"{tmp}/ingest")
        paths = [Path(args.catalog) / image for image in catalog["image"]]
        for path in paths:  # warm the page cache for both contenders
            path.read_bytes()

        started = time.perf_counter()
        plain = plain_pil_loop(paths, args.resolution)
        plain_seconds = time.perf_counter() - started

        started = time.perf_counter()
        ours = square_images(f"{tmp}/ingest", catalog, args.resolution, args.workers, progress=False)
        ours_seconds = time.perf_counter() - started

    n = len(catalog)
    assert plain.shape[0] == ours.shape[0] == n and ours.shape[1:] == (3, args.resolution, args.resolution)
    print(f"images: {n} at {args.resolution}x{args.resolution}, {os.cpu_count()} CPU cores, workers={args.workers}")
    print(f"plain PIL loop (1 process) : {plain_seconds:7.2f} s  {n / plain_seconds:8.0f} images/s")
    print(f"gig preprocess             : {ours_seconds:7.2f} s  {n / ours_seconds:8.0f} images/s")
    print(f"speed-up                   : {plain_seconds / ours_seconds:.2f}x")
    print(f"(ingest, not timed above   : {ingest_seconds:7.2f} s for validation, hashing and the blob store)")


if __name__ == "__main__":
    main()
