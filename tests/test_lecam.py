"""LeCam regularisation (training/losses.py): what it penalises, and that a run with it resumes exactly."""

from pathlib import Path

import pytest
import torch

from gig_core.training.checkpoint import load_checkpoint
from gig_core.training.losses import LeCam
from gig_core.training.trainer import train
from tests.conftest import tiny_train_config


def test_lecam_penalises_only_a_discriminator_that_runs_away_from_the_averages():
    lecam = LeCam(decay=0.9)
    assert lecam(torch.zeros(4), torch.zeros(4)).item() == 0.0  # at the averages: nothing to pull back
    assert lecam.ema_real == 0.0 and lecam.ema_fake == 0.0
    far = lecam(torch.full((4,), 3.0), torch.full((4,), -3.0))  # real logits far above, fake far below
    assert lecam.ema_real == pytest.approx(0.3) and lecam.ema_fake == pytest.approx(-0.3)
    assert far.item() == pytest.approx((3.0 + 0.3) ** 2 + (0.3 + 3.0) ** 2)
    assert lecam(torch.full((4,), -5.0), torch.full((4,), 5.0)).item() == 0.0  # the other side is not penalised


def test_training_with_lecam_resumes_exactly(tiny_run, tmp_path):
    data = Path(tiny_run.preprocess.out_dir)
    common = dict(log_every=1, sample_every=100, lecam_weight=0.3)
    train(tiny_train_config(data, tmp_path / "a", steps=6, **common), progress=False)
    train(tiny_train_config(data, tmp_path / "b", steps=3, **common), progress=False)
    train(tiny_train_config(data, tmp_path / "b", steps=6, resume=str(tmp_path / "b" / "checkpoint.pt"), **common),
          progress=False)
    a, b = load_checkpoint(tmp_path / "a" / "checkpoint.pt"), load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert a["optimizers"]["lecam"] == b["optimizers"]["lecam"] and a["optimizers"]["lecam"]["ema_real"] is not None
    assert all(torch.equal(t, b["parts"]["generator"][k]) for k, t in a["parts"]["generator"].items())
