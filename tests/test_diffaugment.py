import csv
from pathlib import Path

import pytest
import torch

from gig_core.config import AugmentConfig
from gig_core.training.checkpoint import load_checkpoint
from gig_core.training.diffaugment import AdaptiveAugment, diff_augment, parse_policy
from gig_core.training.trainer import train
from tests.conftest import tiny_train_config

POLICY = ["color", "translation", "cutout"]


def test_diffaugment_is_differentiable_and_per_image():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 32, 32, requires_grad=True)
    y = diff_augment(x * 2 - 1, POLICY)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradients reach the generator's output
    same = torch.zeros(8, 3, 32, 32)
    out = diff_augment(same, POLICY)
    assert not torch.equal(out[0], out[1])  # each image gets its own draw
    assert torch.equal(diff_augment(same, POLICY, p=0.0), same)


def test_translation_pads_with_white():
    torch.manual_seed(1)
    black = -torch.ones(64, 3, 16, 16)
    shifted = diff_augment(black, ["translation"])
    assert (shifted == 1.0).any() and (shifted == -1.0).any()


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        parse_policy("color,rotate")


def test_ada_probability_follows_overfitting():
    ada = AdaptiveAugment(target=0.6, interval=4, kimg=10.0, batch_size=64)
    for step in range(1, 41):
        ada.observe(torch.ones(64))  # D is sure every real image is real: overfitting
        ada.update(step)
    assert ada.p == pytest.approx(10 * 64 * 4 / 10_000)  # 10 updates of batch * interval / (kimg * 1000)
    for step in range(41, 201):
        ada.observe(-torch.ones(64))
        ada.update(step)
    assert ada.p == 0.0  # clamped


def test_trainer_uses_ada_and_resumes_exactly(tiny_run, tmp_path):
    data = Path(tiny_run.preprocess.out_dir)
    augment = AugmentConfig(ada_target=0.2, ada_interval=1, ada_kimg=0.2, diffaugment="color,translation")
    straight = tiny_train_config(data, tmp_path / "a", steps=8, log_every=1, sample_every=100, augment=augment)
    train(straight, progress=False)
    rows = list(csv.DictReader((tmp_path / "a" / "losses.csv").open()))
    assert any(float(r["augment_p"]) > 0 for r in rows)  # the probability moved
    train(
        tiny_train_config(data, tmp_path / "b", steps=5, log_every=1, sample_every=100, augment=augment), progress=False
    )
    train(
        tiny_train_config(
            data,
            tmp_path / "b",
            steps=8,
            log_every=1,
            sample_every=100,
            augment=augment,
            resume=str(tmp_path / "b" / "checkpoint.pt"),
        ),
        progress=False,
    )
    a, b = load_checkpoint(tmp_path / "a" / "checkpoint.pt"), load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert a["ada"] == b["ada"] and [r[:-1] for r in a["history"]] == [r[:-1] for r in b["history"]]
    assert all(torch.equal(t, b["parts"]["generator"][k]) for k, t in a["parts"]["generator"].items())
