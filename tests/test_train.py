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
    # one row per articleType, grid_columns=4 images per row, 2px padding, the row labels on the left
    width, height = 4 * 34 + 2, 3 * 34 + 2
    label_width = grid.size[0] - width
    assert grid.size[1] == height and 30 < label_width < 100, grid.size
    labels = grid.crop((0, 0, label_width, height)).convert("L")
    assert labels.getextrema()[0] < 100  # dark text on the white margin
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
    config = load_section("train", None, {
        "preset": "64", "data_dir": str(tmp_path / "pre64"), "out_dir": str(tmp_path / "t64"),
        "steps": 2, "batch_size": 8, "g_channels": 8, "d_channels": 8, "grid_columns": 2,
    })
    assert config.resolution == 64
    train(config, progress=False)
    assert GeneratorBundle.load(tmp_path / "t64" / "generator.pt").sample(1, {
        "articleType": torch.tensor([0]), "baseColour": torch.tensor([0])}).shape == (1, 3, 64, 64)


def test_auxiliary_classifier_learns_the_labels_of_real_photos(tiny_run, tmp_path):
    """train.class_weight (AC-GAN): D's heads learn to name real photos' labels; G's loss carries the term."""
    from gig_core.data.preprocess import load_split
    from gig_core.models import Architecture, build_parts

    config = tiny_train_config(Path(tiny_run.preprocess.out_dir), tmp_path / "ac", class_weight=1.0, steps=40)
    train(config, progress=False)
    state = load_checkpoint(tmp_path / "ac" / "checkpoint.pt")
    assert state["arch"]["classifier"] is True
    rows = list(csv.DictReader((tmp_path / "ac" / "losses.csv").open()))
    assert float(rows[-1]["class_d"]) < float(rows[0]["class_d"])  # D learns to classify
    assert {"class_d", "class_g", "z_spread"} <= set(rows[0])
    discriminator = build_parts(Architecture(**state["arch"]))["discriminator"]
    discriminator.load_state_dict(state["parts"]["discriminator"])
    real = load_split(config.data_dir, "train")
    with torch.no_grad():
        _, classes = discriminator.eval()(real.images.float() / 127.5 - 1, real.labels, classify=True)
    accuracy = (classes["articleType"].argmax(1) == real.labels["articleType"]).float().mean().item()
    assert accuracy > 0.6, accuracy  # three product types: chance is 1/3 (40 tiny steps reach about 0.75)


def test_auxiliary_classifier_needs_a_conditional_family(tiny_run, tmp_path):
    config = tiny_train_config(Path(tiny_run.preprocess.out_dir), tmp_path / "d", model="dcgan", class_weight=0.5)
    with pytest.raises(ValueError, match="train.class_weight needs an attribute-conditioned family"):
        train(config, progress=False)


def _batch_norm_mismatch(bundle: GeneratorBundle, labels: dict[str, torch.Tensor]) -> float:
    """Largest gap, over every batch norm and channel, between the statistics it normalises with and those of
    the activations it sees when sampling: |mean - running_mean| / running_std and |log(var / running_var)|."""
    gaps: list[float] = []

    def hook(module, inputs, output):
        x = inputs[0].float()  # (B, C, H, W)
        mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3))
        std = (module.running_var + module.eps).sqrt()
        gaps.append(max(((mean - module.running_mean).abs() / std).max().item(),
                        (var / module.running_var).log().abs().max().item()))

    norms = [m for m in bundle.generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    handles = [m.register_forward_hook(hook) for m in norms]
    index = torch.randint(len(next(iter(labels.values()))), (512,), generator=torch.Generator().manual_seed(9))
    bundle.sample(512, {a: t[index] for a, t in labels.items()}, seed=9, batch_size=512)
    for handle in handles:
        handle.remove()
    assert len(gaps) == len(norms) > 0
    return max(gaps)


def test_the_saved_generator_normalises_with_statistics_of_its_own(tiny_run, tmp_path):
    """Standing statistics: the EMA generator's batch norms are recomputed from its own samples before it is
    saved, instead of carrying the trained generator's (another network's activations)."""
    from gig_core.data.preprocess import load_split

    data = Path(tiny_run.preprocess.out_dir)
    labels = load_split(data, "train").labels
    for name, batches in [("own", 200), ("copied", 0)]:
        train(tiny_train_config(data, tmp_path / name, steps=40, sample_every=100, standing_stats_batches=batches),
              progress=False)
    own, copied = (GeneratorBundle.load(tmp_path / n / "generator.pt") for n in ("own", "copied"))
    own_gap, copied_gap = _batch_norm_mismatch(own, labels), _batch_norm_mismatch(copied, labels)
    assert own_gap < 0.15 < copied_gap, (own_gap, copied_gap)
    state = load_checkpoint(tmp_path / "own" / "checkpoint.pt")  # the checkpoint's EMA is generator.pt
    assert all(torch.equal(v, state["ema"][k]) for k, v in own.generator.state_dict().items())
    weights = {k: v for k, v in own.generator.state_dict().items() if "running" not in k and "batches" not in k}
    assert all(torch.equal(v, copied.generator.state_dict()[k]) for k, v in weights.items())  # only statistics differ
