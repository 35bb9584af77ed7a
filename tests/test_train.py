import csv
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from gig_core.sampling import GeneratorBundle
from gig_core.training.checkpoint import load_checkpoint
from gig_core.training.trainer import train
from tests.conftest import tiny_train_config


def test_train_outputs(tiny_run):
    out = Path(tiny_run.train.out_dir)
    summary = json.loads((out / "train.json").read_text())
    assert summary["steps"] == 60 and summary["grid_rows"] == ["Heels", "Tshirts", "Watches"]
    grid = Image.open(out / "grid.png")
    # one row per articleType, grid_columns=4 images per row, 2px padding
    assert grid.size == (4 * 34 + 2, 3 * 34 + 2)
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000030.png", "step_000060.png"]
    rows = list(csv.DictReader((out / "losses.csv").open()))
    assert [int(r["step"]) for r in rows] == [10, 20, 30, 40, 50, 60]
    state = load_checkpoint(out / "checkpoint.pt")
    assert {"parts", "ema", "optimizers", "ranks", "config", "arch", "step", "history"} <= set(state)
    assert set(state["parts"]) == {"generator", "discriminator"} and set(state["optimizers"]) == {"g", "d"}
    bundle = GeneratorBundle.load(out / "generator.pt")
    assert bundle.arch.vocab["articleType"] == ["Heels", "Tshirts", "Watches"]


def test_training_is_deterministic_and_resumable(tiny_run, tmp_path):
    data = Path(tiny_run.preprocess.out_dir)
    straight = tiny_train_config(data, tmp_path / "straight", steps=8, sample_every=100, log_every=2)
    train(straight, progress=False)
    first = tiny_train_config(data, tmp_path / "resumed", steps=4, sample_every=100, log_every=2)
    train(first, progress=False)
    resumed = tiny_train_config(data, tmp_path / "resumed", steps=8, sample_every=100, log_every=2,
                                resume=str(tmp_path / "resumed" / "checkpoint.pt"))
    train(resumed, progress=False)
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert b["step"] == 8 and [r[:-1] for r in a["history"]] == [r[:-1] for r in b["history"]]  # all but images/s
    for name, weights in [*a["parts"].items(), ("ema", a["ema"])]:
        other = b["ema"] if name == "ema" else b["parts"][name]
        for key, tensor in weights.items():
            assert torch.equal(tensor, other[key]), f"{name}.{key} differs after resume"


def test_mismatched_resolution_is_explained(tiny_run, tmp_path):
    config = tiny_train_config(Path(tiny_run.preprocess.out_dir), tmp_path / "t", resolution=64)
    with pytest.raises(ValueError, match="preprocess.resolution: 64"):
        train(config, progress=False)


def test_dcgan_trains_unconditionally(tiny_run, tmp_path):
    config = tiny_train_config(Path(tiny_run.preprocess.out_dir), tmp_path / "dcgan", model="dcgan", steps=4)
    summary = train(config, progress=False)
    assert summary["grid_rows"] == [] and (tmp_path / "dcgan" / "grid.png").is_file()
    assert not GeneratorBundle.load(tmp_path / "dcgan" / "generator.pt").arch.conditional


def test_64_preset_trains_on_64px_images(tiny_run, tmp_path):
    from gig_core.config import PreprocessConfig, load_section
    from gig_core.data.preprocess import preprocess_catalog

    preprocess_catalog(PreprocessConfig(ingest_dir=tiny_run.ingest.out_dir, out_dir=str(tmp_path / "pre64"),
                                        resolution=64), progress=False)
    config = load_section("train", tmp_path / "no-params.yaml", {
        "preset": "64", "data_dir": str(tmp_path / "pre64"), "out_dir": str(tmp_path / "t64"),
        "steps": 2, "batch_size": 8, "g_channels": 8, "d_channels": 8, "grid_columns": 2,
    })
    assert config.resolution == 64
    train(config, progress=False)
    assert GeneratorBundle.load(tmp_path / "t64" / "generator.pt").sample(1, {
        "articleType": torch.tensor([0]), "baseColour": torch.tensor([0])}).shape == (1, 3, 64, 64)
