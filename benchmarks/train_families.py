"""Every family trained for a few hundred steps on the bundled sample catalog (32x32), with
its sample grid, speed, and for the autoencoding families the held-out reconstruction error
against the VAE at step 0 and an autoencoder at initialisation.

    .venv/bin/python benchmarks/train_families.py [--steps 300] [--out benchmarks/families]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from gig_core.config import FAMILY_DEFAULTS, IngestConfig, PreprocessConfig, TrainConfig
from gig_core.data.ingest import ingest_catalog
from gig_core.data.preprocess import load_split, preprocess_catalog
from gig_core.data.sample import sample_catalog_path
from gig_core.evaluation.reconstruction import reconstruction_mse
from gig_core.models import FAMILIES, Architecture, build_parts
from gig_core.training.checkpoint import load_parts
from gig_core.training.trainer import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default="benchmarks/families")
    args = parser.parse_args()
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        ingest_catalog(IngestConfig(source=str(sample_catalog_path()), out_dir=f"{tmp}/ingest"), progress=False)
        preprocess_catalog(PreprocessConfig(ingest_dir=f"{tmp}/ingest", out_dir=f"{tmp}/pre"), progress=False)
        heldout = load_split(f"{tmp}/pre", "heldout").images
        results = {}
        for model in sorted(FAMILIES):
            config = TrainConfig(**{**FAMILY_DEFAULTS.get(model, {}), "model": model, "data_dir": f"{tmp}/pre",
                                    "out_dir": f"{tmp}/{model}", "steps": args.steps, "sample_every": args.steps,
                                    "checkpoint_every": 0, "log_every": 25})
            started = time.perf_counter()
            summary = train(config, progress=False)
            row = {"seconds": round(time.perf_counter() - started, 1), "images_per_s": summary["images_per_second"],
                   "within_class_diversity": summary["within_class_diversity"]}
            if model in ("vae", "autoencoder", "vaegan"):
                row["heldout_recon_mse"] = round(reconstruction_mse(
                    load_parts(Path(tmp) / model / "checkpoint.pt"), heldout, variational=model != "autoencoder"), 4)
            if model == "vae":
                train(TrainConfig(**{**config.__dict__, "steps": 0, "out_dir": f"{tmp}/vae0"}), progress=False)
                row["heldout_recon_mse_step0"] = round(reconstruction_mse(
                    load_parts(Path(tmp) / "vae0" / "checkpoint.pt"), heldout, variational=True), 4)
                torch.manual_seed(0)
                baseline = build_parts(Architecture(model="autoencoder", resolution=32, z_dim=config.z_dim,
                                                    g_channels=config.g_channels, d_channels=config.d_channels))
                row["autoencoder_at_init_recon_mse"] = round(
                    reconstruction_mse(baseline, heldout, variational=False), 4
                )
            (out / model).mkdir(parents=True, exist_ok=True)
            (out / model / "grid.png").write_bytes((Path(tmp) / model / "grid.png").read_bytes())
            results[model] = row
            print(f"{model:12s} {json.dumps(row)}", flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
