"""Every family through the one trainer, on the tiny catalog."""

from pathlib import Path

import pytest
import torch

from gig_core.data.preprocess import load_split
from gig_core.evaluation.reconstruction import reconstruction_mse
from gig_core.models import FAMILIES, Architecture, build_parts
from gig_core.training.checkpoint import load_checkpoint, load_parts
from gig_core.training.trainer import train
from tests.conftest import tiny_train_config


@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_each_family_trains_and_writes_grids(model, tiny_run, tmp_path):
    from gig_core.config import FAMILY_DEFAULTS

    config = tiny_train_config(Path(tiny_run.preprocess.out_dir), tmp_path / model, model=model, steps=6,
                               sample_every=3, log_every=3, **{**FAMILY_DEFAULTS.get(model, {}), "d_steps": 2
                                                               if model == "wgan-gp" else 1})
    summary = train(config, progress=False)
    assert summary["steps"] == 6
    assert (tmp_path / model / "samples" / "step_000003.png").is_file() and (tmp_path / model / "grid.png").is_file()
    state = load_checkpoint(tmp_path / model / "checkpoint.pt")
    assert "generator" in state["parts"] and len(state["history"]) == 2
    assert all(torch.isfinite(torch.tensor(r[1:])).all() for r in state["history"])


def test_vae_reconstruction_beats_its_start_and_the_autoencoder_at_init(tiny_run, tmp_path):
    data = Path(tiny_run.preprocess.out_dir)
    heldout = load_split(data, "heldout").images
    config = tiny_train_config(data, tmp_path / "vae", model="vae", steps=150, lr_g=1e-3, beta1=0.9,
                               kl_anneal_steps=100, sample_every=1000, log_every=10)
    train(config.__class__(**{**config.__dict__, "steps": 0, "out_dir": str(tmp_path / "vae0")}), progress=False)
    train(config, progress=False)

    at_start = reconstruction_mse(load_parts(tmp_path / "vae0" / "checkpoint.pt"), heldout, variational=True)
    trained = reconstruction_mse(load_parts(tmp_path / "vae" / "checkpoint.pt"), heldout, variational=True)
    torch.manual_seed(0)
    autoencoder_at_init = reconstruction_mse(
        build_parts(Architecture(model="autoencoder", resolution=32, z_dim=32, g_channels=16, d_channels=16)),
        heldout, variational=False)
    print(f"\nheld-out reconstruction MSE: VAE step 0 {at_start:.4f}, VAE step 150 {trained:.4f}, "
          f"autoencoder at init {autoencoder_at_init:.4f}")
    assert trained < 0.5 * at_start and trained < 0.5 * autoencoder_at_init


def test_torch_compile_path_trains(tiny_run, tmp_path):
    """train.compile wraps every part in torch.compile (inductor builds C++ kernels on the CPU)."""
    config = tiny_train_config(Path(tiny_run.preprocess.out_dir), tmp_path / "compiled", model="dcgan", steps=3,
                               sample_every=3, log_every=1, compile=True)
    summary = train(config, progress=False)
    assert summary["steps"] == 3 and (tmp_path / "compiled" / "grid.png").is_file()
    state = load_checkpoint(tmp_path / "compiled" / "checkpoint.pt")
    assert not any(
        key.startswith("_orig_mod") for key in state["parts"]["generator"]
    )  # plain weights, loadable anywhere
