"""The GPU check (issue #11): one prepared script that exercises the CUDA path end to end and
prints what a GPU gives. On the bundled sample catalog (preprocessed at 64 and 128 px):

  1. every family at 64 px (and dcgan, cgan, hcgan at 128 px) for `--steps` steps with bf16
     autocast + channels_last, and dcgan/cgan/hcgan at 64 px again with torch.compile:
     images/s (median over logged windows after the first), the spread of the windows
     (10th-90th percentile), peak GPU memory; each family's sample grid is saved to --out;
  2. a DDP run of world size 1 through torchrun and the NCCL code path (gloo on a CPU);
  3. evaluation: 10,000 samples made and their features extracted, images/s;
  4. serving: the registered model's predict on one 64-image request, latency over 20 requests.

    .venv/bin/python benchmarks/gpu_check.py [--out gpu_check] [--steps 300] [--batch-size 256]
    .venv/bin/python benchmarks/gpu_check.py --device cpu --quick     # a dry run of every part, on a CPU

Targets on one H200-class GPU: dcgan at 64 px >= 20,000 training images/s, evaluation >= 5,000
images/s. Budget: about 6 minutes on one GPU (torch.compile is most of it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from gig_core.config import FAMILY_DEFAULTS, EvaluateConfig, IngestConfig, PreprocessConfig, TrainConfig
from gig_core.data.ingest import ingest_catalog
from gig_core.data.preprocess import preprocess_catalog
from gig_core.data.sample import sample_catalog_path
from gig_core.evaluation.features import build_extractor, extract_features
from gig_core.models import FAMILIES
from gig_core.registry.pyfunc import GeneratorPyfunc
from gig_core.sampling import GeneratorBundle
from gig_core.training.trainer import train

COMPILED = ("dcgan", "cgan", "hcgan")
AT_128 = ("dcgan", "cgan", "hcgan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def train_row(name: str, data: Path, work: Path, out: Path, device: str, steps: int, batch: int, **extra) -> dict:
    model = extra.pop("model")
    config = TrainConfig(**{**FAMILY_DEFAULTS.get(model, {}), "model": model, "data_dir": str(data),
                            "out_dir": str(work / name), "device": device, "steps": steps, "batch_size": batch,
                            "amp": True, "channels_last": True, "log_every": max(1, steps // 10),
                            "sample_every": 10**9, "checkpoint_every": 0, "collapse_threshold": 0.0, **extra})
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    train(config, progress=False)
    seconds = time.perf_counter() - started
    with (work / name / "losses.csv").open() as handle:
        speeds = [float(r["images_per_s"]) for r in csv.DictReader(handle)][1:] or [0.0]  # first window: warm-up
    shutil.copyfile(work / name / "grid.png", out / f"grid_{name}.png")
    return {"run": name, "images_per_s": round(statistics.median(speeds)), "p10": round(percentile(speeds, 0.1)),
            "p90": round(percentile(speeds, 0.9)), "seconds": round(seconds, 1),
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.startswith("cuda") else None}


def ddp_world_one(data: Path, work: Path, device: str, steps: int, batch: int) -> dict:
    """torchrun with one process: process group (NCCL on a GPU), DDP wrapping and collectives."""
    params = work / "ddp_params.yaml"
    params.write_text(yaml.safe_dump({"train": {"model": "dcgan", "data_dir": str(data), "out_dir": str(work / "ddp"),
                                                "device": device, "steps": steps, "batch_size": batch, "amp": True,
                                                "channels_last": True, "log_every": max(1, steps // 5),
                                                "sample_every": 10**9, "checkpoint_every": 0, "resolution": 64,
                                                "g_channels": 64, "d_channels": 64, "collapse_threshold": 0.0,
                                                "augment": {"ada_target": 0.6, "ada_interval": 4}}}))
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                             "-m", "gig_core.cli", "train", "--quiet", "--params", str(params)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        return {"run": "ddp world size 1", "error": result.stderr[-1500:]}
    summary = json.loads((work / "ddp" / "train.json").read_text())
    return {"run": f"ddp world size 1 ({'nccl' if device.startswith('cuda') else 'gloo'})",
            "images_per_s": summary["images_per_second"], "seconds": round(time.perf_counter() - started, 1),
            "world_size": summary["world_size"]}


def evaluation_speed(data: Path, work: Path, device: str, samples: int) -> dict:
    """Make `samples` images with the trained hcgan and extract their features, on the device."""
    bundle = GeneratorBundle.load(work / "hcgan-64" / "generator.pt").to(device)
    config = EvaluateConfig(data_dir=str(data), cache_dir=str(work / "cache"), device=device, extractor_steps=100)
    extractor = build_extractor(config, progress=False).to(device)
    labels = bundle.encode([{}] * samples, seed=0)  # random classes
    bundle.sample(256, {a: t[:256] for a, t in labels.items()})  # warm-up
    extract_features(extractor, torch.zeros(256, 3, 64, 64, dtype=torch.uint8))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    images = bundle.sample(samples, labels, batch_size=1024)
    extract_features(extractor, images, batch_size=1024)
    seconds = time.perf_counter() - started
    return {"run": f"evaluation: {samples} samples made + features", "images_per_s": round(samples / seconds),
            "seconds": round(seconds, 2)}


def serving_latency(work: Path, device: str, requests: int) -> dict:
    model = GeneratorPyfunc(GeneratorBundle.load(work / "hcgan-64" / "generator.pt").to(device))
    row = {**{a: v[0] for a, v in model.bundle.arch.vocab.items()}, "seed": 0, "count": 64}
    model.predict(None, pd.DataFrame([row]))  # warm-up
    times = []
    for seed in range(requests):
        started = time.perf_counter()
        model.predict(None, pd.DataFrame([{**row, "seed": seed}]))
        times.append((time.perf_counter() - started) * 1000)
    return {"run": "serving: one 64-image request (PNGs)", "median_ms": round(statistics.median(times), 1),
            "p90_ms": round(percentile(times, 0.9), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="a few steps of everything: checks the script, not speed")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", default="gpu_check", help="where the grids and results.json go")
    args = parser.parse_args()
    steps, batch = (4, 8) if args.quick else (args.steps, args.batch_size)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {name}; torch {torch.__version__}; {steps} steps of {batch}, bf16 autocast + channels_last",
          flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ingest_catalog(IngestConfig(source=str(sample_catalog_path()), out_dir=str(work / "ingest")), progress=False)
        for resolution in (64, 128):
            preprocess_catalog(PreprocessConfig(ingest_dir=str(work / "ingest"), out_dir=str(work / f"pre{resolution}"),
                                                resolution=resolution), progress=False)
        runs = [(f"{m}-64", dict(model=m, resolution=64, g_channels=64, d_channels=64)) for m in sorted(FAMILIES)]
        runs += [(f"{m}-128", dict(model=m, resolution=128, g_channels=64, d_channels=64)) for m in AT_128]
        compiled = COMPILED[:1] if args.quick else COMPILED
        runs += [(f"{m}-64-compiled", dict(model=m, resolution=64, g_channels=64, d_channels=64, compile=True))
                 for m in compiled]
        for run, extra in runs:
            data = work / f"pre{extra['resolution']}"
            try:
                rows.append(train_row(run, data, work, out, args.device, steps, batch, **extra))
            except Exception as error:  # one broken family must not hide the others' figures
                rows.append({"run": run, "error": f"{type(error).__name__}: {error}"[:500]})
            print(json.dumps(rows[-1]), flush=True)
        for check in (lambda: ddp_world_one(work / "pre64", work, args.device, steps, batch),
                      lambda: evaluation_speed(work / "pre64", work, args.device, 512 if args.quick else 10_000),
                      lambda: serving_latency(work, args.device, 3 if args.quick else 20)):
            try:
                rows.append(check())
            except Exception as error:
                rows.append({"run": "check", "error": f"{type(error).__name__}: {error}"[:500]})
            print(json.dumps(rows[-1]), flush=True)
    (out / "results.json").write_text(json.dumps({"device": name, "steps": steps, "batch_size": batch, "rows": rows},
                                                 indent=2) + "\n")
    print(f"\n{'run':42s} {'images/s':>9s} {'p10-p90':>15s} {'peak GiB':>9s} {'seconds':>8s}")
    for row in rows:
        if "error" in row:
            print(f"{row['run']:42s} ERROR {row['error'][:200]}")
        elif "median_ms" in row:
            print(f"{row['run']:42s} median {row['median_ms']} ms, p90 {row['p90_ms']} ms")
        else:
            spread = f"{row['p10']}-{row['p90']}" if "p10" in row else ""
            print(f"{row['run']:42s} {row['images_per_s']:>9} {spread:>15s} {str(row.get('peak_gib') or ''):>9s} "
                  f"{row.get('seconds', ''):>8}")


if __name__ == "__main__":
    main()
