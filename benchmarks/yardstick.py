"""The yardstick tested on real photos (issue #28, item 6), on the 40k catalog at 64 px.

Every row is scored on one reference set (a fixed stratified subset of `--max-images` held-out photos) by the
standard FID InceptionV3 and by the C2ST detector, and by the catalog classifier's FID for comparison with the
figures of earlier sessions:
  - training photos: as many as the reference set, stratified the same way (the real floor);
  - the same photos under a Gaussian blur, sigma 1 at 64 px;
  - a collapsed model: one training photo per articleType, repeated;
  - a DCGAN after 200 steps (gig's dcgan family, batch 64).
A yardstick that ranks any of the last three at or above the first is broken. A last row is real against real
for the detector alone: the same training photos from their originals, shown as the reference photos are, where
C2ST should sit near 0.5 (the first row's C2ST is a 64 px model's best, `c2st_floor`, not 0.5).

    .venv/bin/python benchmarks/yardstick.py [--catalog ../shared/datasets/fashion-products-small]
        [--work /tmp/gig_yardstick] [--max-images 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as TF

from gig_core.config import EvaluateConfig, IngestConfig, PreprocessConfig, TrainConfig
from gig_core.data.ingest import ingest_catalog, read_catalog
from gig_core.data.preprocess import display_photos, load_split, preprocess_catalog
from gig_core.evaluation.c2st import two_sample_test
from gig_core.evaluation.evaluate import ReferenceSet, reference_subset
from gig_core.evaluation.sources import SampleSource, load_generator_file
from gig_core.postprocess import as_shown
from gig_core.training.trainer import train

SHOWN = ["fid", "fid_bias_corrected", "fid_ci_low", "fid_ci_high", "fid_floor", "kid_mean", "kid_ci_low",
         "kid_ci_high", "c2st_accuracy", "c2st_ci_low", "c2st_ci_high", "precision", "recall"]


def prepared(catalog: Path, work: Path) -> Path:
    data = work / "pre64"
    if not (data / "preprocess.json").is_file():
        ingest = IngestConfig(source=str(catalog), out_dir=str(work / "ingest"), max_quarantine_fraction=0.2)
        ingest_catalog(ingest)
        preprocess_catalog(PreprocessConfig(ingest_dir=ingest.out_dir, out_dir=str(data), resolution=64))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", default="../shared/datasets/fashion-products-small")
    parser.add_argument("--work", default="/tmp/gig_yardstick")
    parser.add_argument("--max-images", type=int, default=1000)
    parser.add_argument("--out", default="benchmarks/yardstick.json")
    args = parser.parse_args()
    work = Path(args.work)
    data = prepared(Path(args.catalog), work)
    common = dict(data_dir=str(data), cache_dir=str(work / "cache"), max_images=args.max_images, report=False)
    inception = ReferenceSet(EvaluateConfig(**common, metrics=["fid", "kid", "precision_recall", "c2st"]))
    catalog = ReferenceSet(EvaluateConfig(**common, feature_extractor="catalog", metrics=["fid"]))

    split = load_split(data, "train")
    index = reference_subset(split.labels, len(inception.images), seed=7)
    sharp = split.images[index]  # (N, 3, 64, 64)
    types = split.labels["articleType"][index]
    first = {int(c): sharp[int(torch.nonzero(types == c)[0])] for c in types.unique()}
    dcgan_dir = work / "dcgan200"
    if not (dcgan_dir / "generator.pt").is_file():
        train(TrainConfig(model="dcgan", data_dir=str(data), out_dir=str(dcgan_dir), resolution=64, g_channels=64,
                          d_channels=64, steps=200, batch_size=64, sample_every=200, condition_on=[]))
    sources = {
        "training photos (real floor)": SampleSource("training photos", images=sharp),
        "training photos, blurred (sigma 1)": SampleSource("blurred", images=TF.gaussian_blur(
            sharp, kernel_size=2 * math.ceil(3.0) + 1, sigma=1.0)),
        "collapsed: one photo per articleType": SampleSource("collapsed", images=torch.stack(
            [first[int(c)] for c in types])),
        "DCGAN after 200 steps": SampleSource("dcgan", bundle=load_generator_file(dcgan_dir / "generator.pt")),
    }
    rows = {}
    for name, source in sources.items():
        started = time.perf_counter()
        values = inception.score(source).result.values
        row = {k: values.get(k) for k in SHOWN}
        old = catalog.score(source).result.values
        row.update(catalog_fid=old["fid"], catalog_fid_ci_low=old["fid_ci_low"], catalog_fid_ci_high=old["fid_ci_high"],
                   c2st_floor=values.get("c2st_floor"), n=values["fid_real_n"], seconds=round(time.perf_counter() -
                                                                                              started, 1))
        rows[name] = row
        print(f"{name:40s} Inception FID {row['fid']:7.2f} [{row['fid_ci_low']:.2f}, {row['fid_ci_high']:.2f}] "
              f"(floor {row['fid_floor']:.2f}, N {row['n']})  KID x10^3 {1e3 * max(0, row['kid_mean']):.2f} "
              f"[{1e3 * row['kid_ci_low']:.2f}, {1e3 * row['kid_ci_high']:.2f}]  C2ST {row['c2st_accuracy']:.3f} "
              f"[{row['c2st_ci_low']:.3f}, {row['c2st_ci_high']:.3f}]  precision {row['precision']:.3f}  "
              f"catalog FID {row['catalog_fid']:.2f} [{row['catalog_fid_ci_low']:.2f}, "
              f"{row['catalog_fid_ci_high']:.2f}]  ({row['seconds']} s)", flush=True)
    started = time.perf_counter()
    sha256 = read_catalog(work / "ingest").set_index("id")["sha256"]
    originals = display_photos(work / "ingest", sha256.loc[[split.ids[i] for i in index.tolist()]].tolist())
    same = two_sample_test(inception.display_images(), as_shown(originals, inception.display),
                           inception.config.detector_epochs, inception.config.confidence, inception.config.seed)
    name = "training photos, originals as shown"
    rows[name] = {"c2st_accuracy": same.accuracy, "c2st_ci_low": same.low, "c2st_ci_high": same.high,
                  "n": len(originals), "seconds": round(time.perf_counter() - started, 1)}
    print(f"{name:40s} C2ST {same.accuracy:.3f} [{same.low:.3f}, {same.high:.3f}] (real against real, detector only, "
          f"N {len(originals)})  ({rows[name]['seconds']} s)", flush=True)
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
