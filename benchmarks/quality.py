"""Quality at equal compute (issue #10): GIG's default conditional recipe against the plain-loop
DCGAN of benchmarks/train_throughput.py, on the 40k catalog at 64x64 on this machine's CPU.

Three generators, all scored by `gig evaluate`'s reference set (a fixed stratified 2,000 of the
held-out split; the standard FID InceptionV3 and its real floor, the C2ST detector, every metric),
and by the catalog feature extractor's FID, which the earlier rows of benchmarks/README.md were
measured with:
  1. plain loop: the classic PyTorch DCGAN example's model and loop, `--steps` steps of 64
     (624 = one epoch of the classic example), fed by an ImageFolder DataLoader of the same
     training photos. Its transform pads each photo onto a white square and resizes it, as GIG's
     preprocessing does (the example's CenterCrop would cut the products, and FID would then
     measure framing, not the training recipe). Unconditional: no conditional accuracy.
  2. GIG, equal images seen: params.yaml's train section (the default family and its settings)
     with the '64' preset, for `--steps` x 64 images (in steps of the recipe's batch), bf16
     autocast + channels_last (the CPU speed settings of benchmarks/train_throughput.py).
  3. GIG, equal wall time: the same run resumed until it has trained as long as the plain loop.

With --text (issue #15) it trains the title model instead (`tgan`, the same preset and settings,
`--steps` x 64 images) and scores it next to run 2's attribute model, re-scored from
--work/gig/generator.pt on the same reference set: text alignment for the title model, FID and
within-class diversity for both. It also writes tgan_titles.png: 8 samples for each of 8 held-out
titles and 4 invented ones (INVENTED_TITLES).

    .venv/bin/python benchmarks/quality.py [--catalog ../shared/datasets/fashion-products-small]
        [--steps 624] [--work /tmp/gig_quality] [--out benchmarks/quality] [--reuse-plain] [--text]
        [--batch-size N]

--batch-size N tries GIG at another batch for the same images (--steps x 64 / N steps), next to
the plain loop's row of results.json; it writes results_batch<N>.json and gig_b<N>_equal_images.png.

Writes each generator's sample grid (GIG's: its first 16 articleType rows) to --out and every
figure to --out/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from PIL import Image, ImageOps
from torchvision import transforms
from train_throughput import BATCH, NZ, plain_loop

from gig_core.config import EvaluateConfig, IngestConfig, PreprocessConfig, TrainConfig, load_section
from gig_core.data.ingest import ingest_catalog
from gig_core.data.preprocess import load_split, load_summary, preprocess_catalog
from gig_core.evaluation.evaluate import ReferenceSet
from gig_core.evaluation.sources import SampleSource, load_generator_file
from gig_core.sampling import grid_image, labelled_grid, save_png, to_uint8
from gig_core.training.trainer import train

PADDED_TRANSFORM = transforms.Compose([
    transforms.Lambda(lambda image: ImageOps.pad(image.convert("RGB"), (max(image.size),) * 2, color="white")),
    transforms.Resize(64), transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
])
SHOWN = [
    "fid",
    "fid_bias_corrected",
    "fid_ci_low",
    "fid_ci_high",
    "fid_floor",
    "fid_real_n",
    "kid_mean",
    "kid_ci_low",
    "kid_ci_high",
    "c2st_accuracy",
    "c2st_ci_low",
    "c2st_ci_high",
    "c2st_floor",
    "c2st_worst_class",
    "c2st_worst",
    "within_class_diversity",
    "within_class_diversity_worst",
    "within_class_diversity_worst_cell",
    "cell_recall",
    "z_sensitivity",
    "z_sensitivity_real",
    "recall",
    "precision",
    "coverage",
    "cond_acc_articleType",
    "real_acc_articleType",
    "cond_acc_baseColour",
    "real_acc_baseColour",
    "memorized_share",
    "memorized_share_real",
    "memorization_near_share",
    "blank_share",
    "within_class_cells",
    "num_samples",
    "r_precision",
    "r_precision_ci_low",
    "r_precision_ci_high",
    "r_precision_real",
    "title_acc_articleType",
    "title_acc_real_articleType",
    "title_acc_baseColour",
    "title_acc_real_baseColour",
]
INVENTED_TITLES = [  # wordings and combinations the catalog does not have
    "Women Pink Sports Watch",
    "Men Yellow Formal Shoes",
    "Kids Green Backpack",
    "Women Red Denim Jeans",
]


def training_folder(catalog: Path, data_dir: Path, root: Path) -> Path:
    """The training split's photos as ImageFolder wants them: one sub-folder per articleType (symlinks)."""
    if root.is_dir():
        return root
    styles = pd.read_csv(catalog / "styles.csv", dtype=str, keep_default_na=False, on_bad_lines="skip")
    types = dict(zip(styles["id"], styles["articleType"]))
    for product_id in load_split(data_dir, "train").ids:
        folder = root / (types.get(product_id) or "unknown").replace("/", "_")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{product_id}.jpg").symlink_to((catalog / "images" / f"{product_id}.jpg").resolve())
    return root


def save_top_rows(grid: Path, out: Path, rows: int = 16) -> None:
    """The first `rows` rows (articleTypes) of a trainer grid: the whole catalog's has 142 (4 MB)."""
    with Image.open(grid) as image:
        cell = image.width // 8  # 8 columns, 2 px borders
        image.crop((0, 0, image.width, min(image.height, rows * cell + 2))).save(out)


@dataclass
class Yardsticks:
    """One held-out reference set seen two ways: the standard one (Inception, C2ST, every metric) and the
    catalog classifier's FID alone, for continuity with the rows measured before the Inception FID."""

    standard: ReferenceSet
    catalog: ReferenceSet


def score(yardsticks: Yardsticks, source: SampleSource) -> dict:
    values = yardsticks.standard.score(source).result.values
    old = yardsticks.catalog.score(source).result.values
    return {**{k: values.get(k) for k in SHOWN}, "catalog_fid": old["fid"], "catalog_fid_ci_low": old["fid_ci_low"],
            "catalog_fid_ci_high": old["fid_ci_high"]}


def equal_images_config(overrides: dict, images: int) -> TrainConfig:
    """params.yaml's train section with `overrides`, for `images` images in steps of its own batch."""
    batch = load_section("train", "params.yaml", overrides).batch_size
    return load_section("train", "params.yaml", {**overrides, "steps": images // batch})


def run_plain_loop(
    catalog: Path, data_dir: Path, work: Path, out: Path, yardsticks: Yardsticks, steps: int, results: dict
) -> float:
    """Train and score the plain-loop DCGAN; returns its training wall time."""
    torch.manual_seed(0)
    folder = training_folder(catalog, data_dir, work / "folder")
    started = time.perf_counter()
    _, plain_g = plain_loop(folder, steps, warmup=0, transform=PADDED_TRANSFORM)
    plain_seconds = time.perf_counter() - started
    with torch.no_grad():
        z = torch.randn(len(yardsticks.standard.images), NZ, 1, 1, generator=torch.Generator().manual_seed(0))
        plain_images = torch.cat([to_uint8(plain_g.eval()(z[i : i + 256])) for i in range(0, len(z), 256)])
    save_png(grid_image(plain_images[:64], 8), out / "plain_loop.png")
    results["plain loop, equal images"] = {
        "steps": steps,
        "seconds": round(plain_seconds, 1),
        **score(yardsticks, SampleSource("plain loop", images=plain_images)),
    }
    return plain_seconds


def run_text_model(steps: int, data_dir: Path, work: Path, out: Path, yardsticks: Yardsticks) -> None:
    """The title model (tgan) against the attribute model of the main run, both for `steps` x 64 images."""
    attribute_model = work / "gig" / "generator.pt"
    if not attribute_model.is_file():
        raise SystemExit(f"quality.py --text: no {attribute_model}; run quality.py without --text first")
    results = {"gig (hcgan), equal images, re-scored": {
        "model": "hcgan", "images": steps * BATCH,
        **score(yardsticks, SampleSource("hcgan", bundle=load_generator_file(attribute_model)))}}
    print("hcgan", json.dumps(results["gig (hcgan), equal images, re-scored"]), flush=True)
    overrides = dict(
        preset="64", model="tgan", data_dir=str(data_dir), out_dir=str(work / "tgan"), amp=True,
        channels_last=True, tracking_uri="", checkpoint_every=0, sample_every=10**9, resume="",
        cache_dir=str(work / "cache"))
    config = equal_images_config(overrides, steps * BATCH)
    started = time.perf_counter()
    train(config, progress=False)
    results["tgan, equal images"] = {
        "model": "tgan", "batch_size": config.batch_size, "steps": config.steps,
        "seconds": round(time.perf_counter() - started, 1),
        **score(yardsticks, SampleSource("tgan", bundle=load_generator_file(work / "tgan" / "generator.pt")))}
    print("tgan", json.dumps(results["tgan, equal images"]), flush=True)
    save_top_rows(work / "tgan" / "grid.png", out / "tgan_equal_images.png")
    bundle = load_generator_file(work / "tgan" / "generator.pt")
    heldout = sorted(set(yardsticks.standard.titles))
    picks = [heldout[int(i)] for i in torch.randperm(len(heldout), generator=torch.Generator().manual_seed(1))[:8]]
    titles = picks + INVENTED_TITLES
    images = bundle.sample(8 * len(titles), bundle.encode([{"title": t} for t in titles for _ in range(8)]), seed=3)
    save_png(labelled_grid(images, 8, titles), out / "tgan_titles.png")
    results["titles grid"] = {"held-out": picks, "invented": INVENTED_TITLES, "file": str(out / "tgan_titles.png")}
    (out / "text_results.json").write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", default="../shared/datasets/fashion-products-small")
    parser.add_argument("--steps", type=int, default=624, help="steps of 64 images (624: one epoch of the example)")
    parser.add_argument("--work", default="/tmp/gig_quality", help="ingest, preprocess and training outputs")
    parser.add_argument("--out", default="benchmarks/quality")
    parser.add_argument(
        "--reuse-plain",
        action="store_true",
        help="take the plain loop's figures and wall time from --out/results.json instead of training "
        "it again (its code and data unchanged; it is the slow half of the benchmark)",
    )
    parser.add_argument("--batch-size", type=int, default=0,
                        help="GIG's batch (0: the recipe's); its steps scale so it sees --steps x 64 images. "
                             "Writes results_batch<N>.json and skips the equal-time run")
    parser.add_argument("--text", action="store_true",
                        help="train and score the title model (tgan) against run 2's attribute model")
    args = parser.parse_args()
    catalog, work, out = Path(args.catalog), Path(args.work), Path(args.out)
    if not (catalog / "styles.csv").is_file():
        raise SystemExit(f"quality.py: no catalog at {catalog} (styles.csv + images/); give --catalog")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 2)
    data_dir = work / "pre"
    if not (data_dir / "train.pt").is_file() or "titles_sha256" not in load_summary(data_dir):
        ingest_catalog(IngestConfig(source=str(catalog), out_dir=str(work / "ingest")), progress=False)
        preprocess_catalog(
            PreprocessConfig(ingest_dir=str(work / "ingest"), out_dir=str(data_dir), resolution=64), progress=False
        )
    common = dict(data_dir=str(data_dir), cache_dir=str(work / "cache"), out_dir=str(work / "eval"), report=False)
    reference = ReferenceSet(EvaluateConfig(**common), progress=False)
    yardsticks = Yardsticks(reference, ReferenceSet(EvaluateConfig(**common, feature_extractor="catalog",
                                                                   metrics=["fid"]), progress=False))
    print(
        f"catalog {catalog}: {len(reference.train_split())} train / {len(reference.images)} held-out photos at 64px; "
        f"{os.cpu_count()} CPU cores, torch {torch.__version__}; {args.steps} steps of {BATCH}",
        flush=True,
    )
    results = {}
    if args.text:
        run_text_model(args.steps, data_dir, work, out, yardsticks)
        return

    if args.reuse_plain or args.batch_size:
        results["plain loop, equal images"] = json.loads((out / "results.json").read_text())["plain loop, equal images"]
        plain_seconds = results["plain loop, equal images"]["seconds"]
    else:
        plain_seconds = run_plain_loop(catalog, data_dir, work, out, yardsticks, args.steps, results)
    print("plain loop", json.dumps(results["plain loop, equal images"]), flush=True)

    images = args.steps * BATCH  # what every run sees: --steps steps of the plain loop's 64
    name = f"gig_b{args.batch_size}" if args.batch_size else "gig"
    overrides = dict(
        preset="64",
        data_dir=str(data_dir),
        out_dir=str(work / name),
        amp=True,
        channels_last=True,
        tracking_uri="",
        checkpoint_every=0,
        sample_every=10**9,
        resume="",
        **({"batch_size": args.batch_size} if args.batch_size else {}),
    )
    config = equal_images_config(overrides, images)
    batch = config.batch_size
    started = time.perf_counter()
    train(config, progress=False)
    gig_seconds = time.perf_counter() - started
    results["gig, equal images"] = {
        "model": config.model,
        "batch_size": batch,
        "steps": config.steps,
        "seconds": round(gig_seconds, 1),
        **score(yardsticks, SampleSource("gig", bundle=load_generator_file(work / name / "generator.pt"))),
    }
    save_top_rows(work / name / "grid.png", out / f"{name}_equal_images.png")
    print("gig, equal images", json.dumps(results["gig, equal images"]), flush=True)
    if args.batch_size:  # a recipe trial: equal images only
        (out / f"results_batch{args.batch_size}.json").write_text(json.dumps(results, indent=2) + "\n")
        return

    # Equal wall time: GIG trains for as long as the plain loop did. Faster, it goes on from where it stopped;
    # slower, it is a shorter run of its own.
    equal_time_steps = round(config.steps * plain_seconds / gig_seconds)
    timed = {**overrides, "steps": equal_time_steps}
    if equal_time_steps > config.steps:
        timed["resume"] = "auto"
    else:
        timed["out_dir"] = str(work / "gig_equal_time")
    started = time.perf_counter()
    train(load_section("train", "params.yaml", timed), progress=False)
    seconds = time.perf_counter() - started + (gig_seconds if timed.get("resume") else 0)
    results["gig, equal time"] = {
        "model": config.model,
        "batch_size": batch,
        "steps": equal_time_steps,
        "seconds": round(seconds, 1),
        **score(yardsticks, SampleSource("gig", bundle=load_generator_file(Path(timed["out_dir"]) / "generator.pt"))),
    }
    save_top_rows(Path(timed["out_dir"]) / "grid.png", out / "gig_equal_time.png")
    print("gig, equal time", json.dumps(results["gig, equal time"]), flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
