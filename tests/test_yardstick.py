"""The yardstick itself, tested on real photos (issue #28, item 6).

The standard FID InceptionV3 is the file it claims to be; held-out photos against training photos sit
at the floor; blurred photos, a collapsed model and a DCGAN after 200 steps all score clearly worse,
beyond the intervals; the trained detector is near 0.5 for real against real and near 1 for blurred
against real. A metric that ranks blurred photos above sharp ones fails here.
"""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from gig_core.config import EvaluateConfig, IngestConfig, PreprocessConfig
from gig_core.data.ingest import ingest_catalog, read_catalog
from gig_core.data.preprocess import display_photos, load_split, preprocess_catalog
from gig_core.data.sample import sample_catalog_path
from gig_core.evaluation.c2st import accuracy_change_interval, two_sample_test, wilson_interval
from gig_core.evaluation.evaluate import ReferenceSet, reference_subset
from gig_core.evaluation.inception import PACKAGE_SHA1, FidInception, clean_resize, packaged_weights, sha1_file
from gig_core.evaluation.metrics.fid import frechet_distance
from gig_core.evaluation.sources import SampleSource, load_generator_file
from gig_core.postprocess import DISPLAY_SIZE, as_shown
from tests.conftest import tiny_train_config

N = 150  # reference photos: enough for the intervals to separate, at about 10 Inception images/s


def test_the_packaged_network_is_the_fid_inception_of_torch_fidelity(tmp_path):
    """The file is the package's own (its SHA-1 as the package records it), and computes the same 2048 features
    as torch-fidelity's independent port of the TF 2015-12-05 FID graph when that is given the file's weights."""
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity

    path = packaged_weights()
    assert sha1_file(path) == PACKAGE_SHA1
    net = torch.jit.load(str(path), map_location="cpu").eval()
    weights = dict(net.named_parameters())
    assert "net.layers.mixed_10.tower_2_conv.weight" in weights  # the TF graph's names, pool3 after mixed_10
    torch.save({}, tmp_path / "none.pt")  # the port is built empty, then given the file's weights below
    load_state_dict = fidelity.FeatureExtractorInceptionV3.load_state_dict
    fidelity.FeatureExtractorInceptionV3.load_state_dict = lambda self, state, strict=True: None
    try:
        port = fidelity.FeatureExtractorInceptionV3("port", ["2048"], feature_extractor_weights_path=str(
            tmp_path / "none.pt"))
    finally:
        fidelity.FeatureExtractorInceptionV3.load_state_dict = load_state_dict
    convs = [m for m in port.modules() if isinstance(m, fidelity.BasicConv2d)]
    names = [n[: -len(".weight")] for n in weights if n.endswith(".weight")]
    assert len(convs) == len(names) == 94
    with torch.no_grad():
        for conv, name in zip(convs, names):  # TF's batch norm has no scale: gamma 1
            conv.conv.weight.copy_(weights[f"{name}.weight"])
            conv.bn.weight.fill_(1)
            conv.bn.bias.copy_(weights[f"{name}.beta"])
            conv.bn.running_mean.copy_(weights[f"{name}.mean"])
            conv.bn.running_var.copy_(weights[f"{name}.var"])
    images = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    ours = FidInception()(images)  # (2, 2048)
    theirs = port(images)[0]
    assert ours.shape == (2, 2048)
    assert (ours - theirs).abs().max() < 1e-4 * theirs.abs().max()


def test_images_are_resized_as_clean_fid_does():
    """PIL bicubic with antialiasing, per channel in float: a 60x80 photo's edges stay where they are."""
    image = torch.zeros(1, 3, 80, 60, dtype=torch.uint8)
    image[:, :, :, 30:] = 255
    resized = clean_resize(image)  # (1, 3, 299, 299)
    assert resized.shape == (1, 3, 299, 299)
    assert resized[0, :, :, :140].max() < 1 and resized[0, :, :, 160:].min() > 254


def test_fid_is_the_frechet_distance_and_its_interval_never_goes_below_zero():
    from torchmetrics.image.fid import _compute_fid

    generator = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 2048, generator=generator), 1.3 * torch.randn(280, 2048, generator=generator) + 0.1
    expected = float(_compute_fid(real.double().mean(0), torch.cov(real.double().T), fake.double().mean(0),
                                  torch.cov(fake.double().T)))
    assert frechet_distance(real, fake) == pytest.approx(expected, rel=1e-6)


def test_interval_helpers_stay_in_range():
    assert wilson_interval(100, 100, 0.95)[1] == 1.0 and wilson_interval(100, 100, 0.95)[0] > 0.95
    low, high = accuracy_change_interval(1.0, 300, 1.0, 300, 0.95)
    assert low < 0 < high  # two trivially fake models: neither is worse


@pytest.fixture(scope="module")
def sample64(tmp_path_factory):
    """The bundled sample catalog at 64 px, and a reference set of N held-out photos on the Inception yardstick."""
    root = tmp_path_factory.mktemp("yardstick")
    ingest = IngestConfig(source=str(sample_catalog_path()), out_dir=str(root / "ingest"))
    ingest_catalog(ingest, progress=False)
    preprocess = PreprocessConfig(ingest_dir=ingest.out_dir, out_dir=str(root / "pre"), resolution=64)
    preprocess_catalog(preprocess, progress=False)
    config = EvaluateConfig(data_dir=preprocess.out_dir, out_dir=str(root / "eval"), cache_dir=str(root / "cache"),
                            max_images=N, metrics=["fid", "kid", "c2st"], bootstrap_draws=100)
    return root, ReferenceSet(config, progress=False)


def blurred(images: torch.Tensor, sigma: float) -> torch.Tensor:
    return TF.gaussian_blur(images, kernel_size=2 * math.ceil(3 * sigma) + 1, sigma=sigma)


def test_each_failure_scores_clearly_worse_than_real_photos(sample64):
    """Held-out against training photos is the floor; blur (sigma 1 at 64 px), a collapsed model (one photo per
    product type) and a DCGAN after 200 steps all score worse beyond the intervals, on FID and on KID."""
    root, reference = sample64
    train = load_split(reference.config.data_dir, "train")
    index = reference_subset(train.labels, N, seed=7)
    sharp = train.images[index]  # (N, 3, 64, 64): photos the reference set has not seen
    first = train.labels["articleType"][index]
    one_per_type = {int(c): sharp[int(torch.nonzero(first == c)[0])] for c in first.unique()}
    collapsed = torch.stack([one_per_type[int(c)] for c in first])

    from gig_core.training.trainer import train as train_model

    train_model(tiny_train_config(reference.config.data_dir, root / "dcgan", model="dcgan", steps=200,
                                  batch_size=32, g_channels=32, d_channels=32, z_dim=64, resolution=64,
                                  sample_every=200), progress=False)
    dcgan = load_generator_file(root / "dcgan" / "generator.pt")

    scores = {name: reference.score(source, ["fid", "kid"]).result.values for name, source in {
        "real": SampleSource("training photos", images=sharp),
        "blurred": SampleSource("blurred training photos", images=blurred(sharp, 1.0)),
        "collapsed": SampleSource("one photo per type", images=collapsed),
        "dcgan": SampleSource("DCGAN, 200 steps", bundle=dcgan),
    }.items()}
    real = scores["real"]
    assert real["fid"] < 1.5 * real["fid_floor"]  # near the floor: the same kind of photos
    for name in ("blurred", "collapsed", "dcgan"):
        worse = scores[name]
        assert worse["fid_ci_low"] > real["fid_ci_high"], (name, worse, real)
        assert worse["kid_ci_low"] > real["kid_ci_high"], (name, worse, real)
    assert min(v["fid_ci_low"] for v in scores.values()) >= 0


def test_the_detector_cannot_tell_real_from_real_and_spots_blur(sample64):
    """Real photos as shown (held-out against training, both from the original photos): near 0.5. The same
    training photos blurred (sigma 1 at 64 px is 2 px at the detector's 128): near 1."""
    _, reference = sample64
    catalog = read_catalog(reference.config.data_dir.replace("pre", "ingest"))
    train_ids = set(load_split(reference.config.data_dir, "train").ids)
    rows = catalog[catalog["id"].isin(train_ids)].head(len(reference.images))
    photos = display_photos(reference.config.data_dir.replace("pre", "ingest"), rows["sha256"].tolist())
    others = as_shown(photos, reference.display)  # the same path as the reference photos: post-processed
    assert others.shape[1:] == (3, DISPLAY_SIZE[1], DISPLAY_SIZE[0])
    real = reference.display_images()
    same = two_sample_test(real, others, epochs=30, confidence=0.95)
    blur = two_sample_test(real, blurred(others, 2.0), epochs=30, confidence=0.95)
    assert same.low <= 0.5 + 0.05 and same.accuracy < 0.65, same.accuracy
    assert blur.accuracy > 0.9 and blur.low > same.high, (blur.accuracy, same.accuracy)
