"""Training throughput at 64x64: our DCGAN through the GIG trainer against the same
architecture trained by a straightforward PyTorch loop fed by a torchvision ImageFolder
DataLoader, as in the classic DCGAN example. Both: 64 base channels in G and D, batch 64,
Adam(2e-4, 0.5), the bundled sample catalog, measured after warm-up in the same run.

    .venv/bin/python benchmarks/train_throughput.py [--steps 30] [--rounds 3] [--families]

The two loops take turns for --rounds rounds, so a slow spell of this shared machine hits
both; the speed-up reported is the median of the rounds' ratios.

With --families it also reports images/s of every family through the GIG trainer.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from gig_core.config import FAMILY_DEFAULTS, IngestConfig, PreprocessConfig, TrainConfig
from gig_core.data.ingest import ingest_catalog
from gig_core.data.preprocess import preprocess_catalog
from gig_core.data.sample import sample_catalog_path
from gig_core.models import FAMILIES
from gig_core.training.trainer import train

NZ, NGF, NDF, BATCH = 100, 64, 64, 64


class PlainGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(NGF * 8), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 8, NGF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 4), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 2), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF), nn.ReLU(True),
            nn.ConvTranspose2d(NGF, 3, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, z):
        return self.main(z)


class PlainDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, NDF, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 4), nn.LeakyReLU(0.2, True),
            nn.Conv2d(NDF * 4, NDF * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 8), nn.LeakyReLU(0.2, True),
            nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1)


def image_folder(root: Path) -> Path:
    """The sample catalog as ImageFolder wants it: one sub-folder of JPEGs per articleType."""
    sample = sample_catalog_path()
    styles = pd.read_csv(sample / "styles.csv", dtype=str, keep_default_na=False)
    for row in styles.itertuples():
        source = sample / "images" / f"{row.id}.jpg"
        if source.is_file():
            (root / row.articleType).mkdir(parents=True, exist_ok=True)
            (root / row.articleType / f"{row.id}.jpg").symlink_to(source)
    return root


CLASSIC_TRANSFORM = transforms.Compose([
    transforms.Resize(64), transforms.CenterCrop(64), transforms.ToTensor(),
    transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
])


def plain_loop(root: Path, steps: int, warmup: int = 3, transform=CLASSIC_TRANSFORM) -> tuple[float, nn.Module]:
    """(images/s, trained generator) of the classic loop; data loading is part of the loop and of the time."""
    dataset = datasets.ImageFolder(str(root), transform=transform)
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=2, drop_last=True)
    net_g, net_d = PlainGenerator(), PlainDiscriminator()
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    done, started = 0, time.perf_counter()
    while done < steps + warmup:
        for real, _ in loader:
            if done == warmup:
                started = time.perf_counter()
            b = real.size(0)
            net_d.zero_grad()
            err_real = criterion(net_d(real), torch.ones(b))
            err_real.backward()
            fake = net_g(torch.randn(b, NZ, 1, 1))
            err_fake = criterion(net_d(fake.detach()), torch.zeros(b))
            err_fake.backward()
            opt_d.step()
            net_g.zero_grad()
            criterion(net_d(fake), torch.ones(b)).backward()
            opt_g.step()
            done += 1
            if done == steps + warmup:
                break
    return steps * BATCH / (time.perf_counter() - started), net_g


def gig_images_per_second(data_dir: Path, out: Path, steps: int, **overrides) -> float:
    """Median images/s over the logged windows after the first (warm-up) one."""
    config = TrainConfig(preset="64", data_dir=str(data_dir), out_dir=str(out), resolution=64, z_dim=NZ,
                         g_channels=NGF, d_channels=NDF, batch_size=BATCH, steps=steps, log_every=5,
                         sample_every=10**9, checkpoint_every=0, collapse_threshold=0.0, **overrides)
    train(config, progress=False)
    with (out / "losses.csv").open() as handle:
        speeds = [float(r["images_per_s"]) for r in csv.DictReader(handle)]
    return statistics.median(speeds[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of plain loop and GIG trainer")
    parser.add_argument("--families", action="store_true", help="also time every family through the GIG trainer")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 2)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ingest_catalog(IngestConfig(source=str(sample_catalog_path()), out_dir=str(tmp / "ingest")), progress=False)
        preprocess_catalog(PreprocessConfig(ingest_dir=str(tmp / "ingest"), out_dir=str(tmp / "pre"), resolution=64),
                           progress=False)
        folder = image_folder(tmp / "folder")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        print(f"device: {device}, {os.cpu_count()} CPU cores, torch {torch.__version__}, batch {BATCH}, 64x64, "
              f"{args.steps} timed steps each")
        fast = dict(amp=True, channels_last=True)
        ratios = []
        for round_ in range(1, args.rounds + 1):
            ours = gig_images_per_second(tmp / "pre", tmp / f"gig{round_}", args.steps + 5, model="dcgan", **fast)
            line = f"round {round_}: gig trainer, dcgan (bf16 autocast, channels_last) {ours:6.1f} images/s"
            if device == "cpu":
                plain, _ = plain_loop(folder, args.steps)
                ratios.append(ours / plain)
                line += f" | plain loop (ImageFolder DataLoader, fp32) {plain:5.1f} images/s | {ratios[-1]:.2f}x"
            print(line, flush=True)
        if ratios:
            print(f"speed-up, median of {len(ratios)} rounds: {statistics.median(ratios):.2f}x "
                  f"(rounds: {', '.join(f'{r:.2f}x' for r in ratios)})")
        if args.families:
            for model in sorted(FAMILIES):
                extra = {**FAMILY_DEFAULTS.get(model, {}), **fast}
                speed = gig_images_per_second(tmp / "pre", tmp / model, args.steps + 5, model=model, **extra)
                print(f"  {model:12s}: {speed:7.1f} images/s")


if __name__ == "__main__":
    main()
