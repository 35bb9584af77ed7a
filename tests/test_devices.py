"""Device mix-ups, caught on a machine without a GPU.

Under torch's FakeTensorMode, tensors made with device="cuda" carry that device without memory
or a GPU, and any forward operation that mixes them with CPU tensors raises
FakeTensorDeviceMismatchError, as CUDA would ("Expected all tensors to be on the same
device"). Modules are built under `torch.device("cuda")` so their weights are CUDA tensors;
the code under test then runs outside that default, so a tensor it creates without a device
lands on the CPU and the mix-up shows. Backward passes and `.item()` do not run there; the
tensors handed to collectives are recorded instead.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from gig_core.evaluation.features import CatalogFeatureExtractor, extract_features
from gig_core.evaluation.metrics.conditional_accuracy import predict
from gig_core.models import FAMILIES, Architecture, build_parts
from gig_core.sampling import GeneratorBundle
from gig_core.training.diffaugment import POLICIES, AdaptiveAugment, diff_augment
from gig_core.training.losses import mode_seeking_ratio
from gig_core.training.objectives import mismatched_titles, paired_labels

CUDA = torch.device("cuda", 0)
VOCAB = {"articleType": ["a", "b", "c"], "baseColour": ["x", "y"]}


class Recorded(Exception):
    """Raised by the recording collective once it has seen its tensor (the fake one holds no value)."""


def recorder(devices: list):
    def all_reduce(tensor, op=None):
        devices.append(tensor.device)
        raise Recorded
    return all_reduce


def cuda_labels(n: int) -> dict[str, torch.Tensor]:
    return {a: torch.zeros(n, dtype=torch.int64, device=CUDA) for a in VOCAB}


@pytest.mark.parametrize("p", [1.0, 0.5])
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_augmentation_op_stays_on_the_batch_device(policy, p):
    with FakeTensorMode():
        batch = torch.empty(8, 3, 32, 32, device=CUDA)
        out = diff_augment(batch, [policy], p=p)
        assert out.device == CUDA and out.shape == batch.shape


@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_every_family_runs_forward_on_the_gpu(model):
    conditional = FAMILIES[model].conditional
    arch = Architecture(model=model, resolution=64, z_dim=16, g_channels=8, d_channels=8, embed_dim=4,
                        vocab=VOCAB if conditional else {})
    with FakeTensorMode():
        with torch.device(CUDA):
            parts = build_parts(arch)
        labels = cuda_labels(4)
        if FAMILIES[model].titled:  # title vectors, and the generator's own encoder hashing titles on the GPU
            labels["title"] = parts["generator"].title.encoder(["Men Navy Blue Shirt"] * 4)
            assert labels["title"].device == CUDA and labels["title"].shape == (4, 64)
        fake = parts["generator"](torch.randn(4, 16, device=CUDA), labels)
        assert fake.device == CUDA and fake.shape == (4, 3, 64, 64)
        if "discriminator" in parts:
            assert parts["discriminator"](fake, labels).device == CUDA
        if FAMILIES[model].titled:  # the matching-aware term's wrong-title pairs
            assert parts["discriminator"](fake, mismatched_titles(labels)).device == CUDA
        if "encoder" in parts:
            assert parts["encoder"](fake).device == CUDA
        z = torch.randn(4, 16, device=CUDA)
        assert mode_seeking_ratio(fake, z).device == CUDA
        assert all(t.device == CUDA for t in paired_labels(labels).values())


def test_ada_sums_its_signs_on_the_process_group_device():
    ada = AdaptiveAugment(target=0.6, interval=2, kimg=1.0, batch_size=16)
    ada.observe(torch.ones(16))  # D's signs so far
    devices: list = []
    with FakeTensorMode():
        with pytest.raises(Recorded):
            ada.update(2, recorder(devices), device=CUDA)  # NCCL takes CUDA tensors only
    assert devices == [CUDA]
    with pytest.raises(Recorded):
        ada.update(4, recorder(devices), device="cpu")  # gloo on CPU
    assert devices == [CUDA, torch.device("cpu")]


def test_the_stop_flag_is_reduced_on_the_training_device(monkeypatch):
    import torch.distributed as dist

    from gig_core.training.trainer import Trainer

    devices: list = []
    monkeypatch.setattr(dist, "all_reduce", recorder(devices))
    with FakeTensorMode(), pytest.raises(Recorded):
        Trainer.preempted(SimpleNamespace(device=CUDA, distributed=True), SimpleNamespace(raised=False))
    assert devices == [CUDA]


def test_sampling_runs_on_the_generator_device():
    arch = Architecture(model="hcgan", resolution=32, z_dim=16, g_channels=8, d_channels=8, embed_dim=4, vocab=VOCAB)
    with FakeTensorMode():
        with torch.device(CUDA):
            generator = build_parts(arch)["generator"]
        bundle = GeneratorBundle(generator.eval(), arch)
        labels = bundle.encode([{"articleType": "b", "baseColour": "y"}] * 3)  # CPU labels, as requests give them
        images = bundle.sample(3, labels, seed=1)  # CPU noise, moved to the generator
        assert images.dtype == torch.uint8 and images.shape == (3, 3, 32, 32) and images.device.type == "cpu"


def test_evaluation_extracts_features_on_the_extractor_device():
    with FakeTensorMode():
        with torch.device(CUDA):
            extractor = CatalogFeatureExtractor({a: len(v) for a, v in VOCAB.items()})
        images = torch.empty(10, 3, 32, 32, dtype=torch.uint8)  # samples and real photos live on the CPU
        features = extract_features(extractor, images, batch_size=4)
        assert features.shape == (10, 128) and features.device.type == "cpu"
        predicted = predict(extractor, images, "articleType", batch_size=4)
        assert predicted.shape == (10,) and predicted.device.type == "cpu"
