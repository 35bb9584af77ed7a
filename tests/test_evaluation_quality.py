"""Does evaluation tell good from bad? A sanity ladder, memorization, noise-aware promotion,
per-class metrics, other sample sources and extractors, and the reference cache, on the
whole bundled sample catalog (about 1,500 train / 500 held-out images at 32px)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image

from gig_core.config import EvaluateConfig, IngestConfig, PreprocessConfig
from gig_core.data.ingest import ingest_catalog
from gig_core.data.preprocess import preprocess_catalog
from gig_core.data.sample import sample_catalog_path
from gig_core.evaluation import features as features_module
from gig_core.evaluation.bootstrap import paired_difference_interval
from gig_core.evaluation.evaluate import ReferenceSet
from gig_core.evaluation.inputs import EvaluationInputs
from gig_core.evaluation.metrics import blank, memorization
from gig_core.evaluation.metrics.fid import frechet_distance
from gig_core.evaluation.sources import SampleSource
from gig_core.registry.promotion import ChampionComparison, decide_promotion


@pytest.fixture(scope="module")
def sample_reference(tmp_path_factory) -> ReferenceSet:
    root = tmp_path_factory.mktemp("sample_eval")
    ingest_catalog(IngestConfig(source=str(sample_catalog_path()), out_dir=str(root / "ingest")), progress=False)
    preprocess_catalog(
        PreprocessConfig(
            ingest_dir=str(root / "ingest"), out_dir=str(root / "preprocess"), resolution=32, holdout_fraction=0.25
        ),
        progress=False,
    )
    # The catalog classifier's space: these tests are about the metrics' and the promotion rule's mechanics, which
    # were calibrated there, and it is 50x cheaper than Inception; tests/test_yardstick.py tests the Inception
    # yardstick and the detector on real photos.
    config = EvaluateConfig(
        data_dir=str(root / "preprocess"), cache_dir=str(root / "cache"), out_dir=str(root / "evaluate"),
        feature_extractor="catalog", metrics=[m for m in EvaluateConfig().metrics if m != "c2st"],
    )
    return ReferenceSet(config, progress=False)


def random_train_images(reference: ReferenceSet, n: int, seed: int) -> torch.Tensor:
    """n training images in random order (the split is stored sorted, so a prefix is not a fair sample)."""
    images = reference.train_split().images
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]]


def score(reference: ReferenceSet, name: str, images: torch.Tensor) -> dict:
    return reference.score(SampleSource(name, images=images)).result.values


@pytest.fixture(scope="module")
def ladder(sample_reference):
    real = random_train_images(sample_reference, len(sample_reference.images), seed=0)
    return {
        "real": score(sample_reference, "train real", real),
        "blurred": score(sample_reference, "blurred train real", TF.gaussian_blur(real, kernel_size=7, sigma=2.0)),
        "noise": score(
            sample_reference,
            "uniform noise",
            torch.randint(0, 256, real.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0)),
        ),
    }


def test_sanity_ladder_real_then_blurred_then_noise(ladder):
    real, blurred, noise = ladder["real"], ladder["blurred"], ladder["noise"]
    # Train against held-out real images: one distribution, so the intervals cover 0.
    assert real["fid_ci_low"] <= 0 <= real["fid_ci_high"], real
    assert real["kid_ci_low"] <= 0 <= real["kid_ci_high"], real
    assert real["fid"] < 0.25 * blurred["fid"]
    for metric in ("fid", "kid_mean"):
        assert real[metric] < blurred[metric] < noise[metric], metric
    assert real["precision"] > blurred["precision"] > noise["precision"]
    assert real["fid_ci_high"] < blurred["fid_ci_low"] and blurred["fid_ci_high"] < noise["fid_ci_low"]
    assert real["recall"] > 0.8 and noise["recall"] < 0.05


def test_memorization_flags_copies_of_training_images_not_held_out_ones(sample_reference, ladder):
    copies = sample_reference.score(
        SampleSource("training images", images=random_train_images(sample_reference, 400, 1))
    )
    assert copies.result.values["memorized_share"] > 0.95 and copies.result.values["memorization_flag"] == 1.0
    pairs = copies.result.details["closest_pairs"]
    fakes, train = copies.inputs.fake_images, sample_reference.train_split().images
    assert all(torch.equal(fakes[f], train[t]) for f, t, _ in pairs)  # the report's pairs are the copies
    heldout = score(sample_reference, "held-out images", sample_reference.images)
    assert heldout["memorized_share"] <= 0.05 and heldout["memorization_flag"] == 0.0
    assert ladder["real"]["memorized_share"] > 0.95  # "train real" are training images too


def test_a_sample_in_a_crowd_of_alike_training_images_is_not_a_copy_a_handed_back_one_is():
    """A sample about as close to a crowd of near-identical training images (the catalog's many
    near-blank jewellery shots) copies none of them; one far closer to a single image copies it."""
    gen = torch.Generator().manual_seed(0)
    crowd = 0.1 * torch.randn(200, 16, generator=gen)  # (200, 16) many near-identical training images
    lone = 5.0 + torch.randn(100, 16, generator=gen)  # (100, 16) ordinary, well-spread ones
    twice = lone[:1].clone()  # the catalog holds lone[0] under two ids
    train = torch.cat([crowd, lone, twice])
    queries = torch.stack([torch.zeros(16), lone[0], lone[1] + 0.01])  # crowd centre, a duplicated photo, a copy
    dists, _ = memorization.nearest_k(queries, train, k=50)  # (3, 50)
    threshold = 1.0  # every query is under the absolute threshold alone
    assert bool((dists[:, 0] < threshold).all())
    assert memorization.copies(dists, threshold, isolation=0.5).tolist() == [False, True, True]


def test_a_blank_frame_is_counted_as_blank_never_as_a_copy(sample_reference):
    """A one-colour frame has nothing to copy (ingest refuses blank photos): even where its features
    match a training image's, it counts in blank_share, not memorized_share."""
    gen = torch.Generator().manual_seed(0)
    train = torch.randn(300, 16, generator=gen, dtype=torch.float64)  # (300, 16) training features
    images = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8, generator=gen)  # (10, 3, 32, 32)
    images[:4] = 255  # white frames
    images[4] = 120 + torch.randint(0, 10, (3, 32, 32), dtype=torch.uint8, generator=gen)  # grey, 10 levels of noise
    inputs = EvaluationInputs(
        config=EvaluateConfig(), real=torch.randn(50, 16, generator=gen, dtype=torch.float64), fake=train[:10].clone(),
        real_images=images, fake_images=images, train=train, real_rows=[], fake_rows=None, classifier=None, vocab={},
    )  # every sample's features are a training image's: all ten would be copies by features alone
    values = memorization.compute(inputs).values
    assert values["memorization_near_share"] == 1.0 and values["memorized_share"] == pytest.approx(0.5)
    assert blank.compute(inputs).values["blank_share"] == pytest.approx(0.5)

    handed_back = random_train_images(sample_reference, 200, 3)
    handed_back[:20] = 255
    scored = sample_reference.score(SampleSource("training images and white frames", images=handed_back))
    assert scored.result.values["blank_share"] == pytest.approx(0.1)
    assert 0.85 < scored.result.values["memorized_share"] <= 0.9
    assert all(f >= 20 for f, _, _ in scored.result.details["closest_pairs"])  # the report shows real pairs


def test_promotion_refuses_a_challenger_lower_only_within_the_noise(sample_reference):
    cfg = sample_reference.config
    n = len(sample_reference.images)
    pool = random_train_images(sample_reference, 2 * n, seed=2)
    a, b = (features_module.extract_features(sample_reference.extractor, pool[i * n : (i + 1) * n]) for i in range(2))
    fid_a, fid_b = frechet_distance(sample_reference.features, a), frechet_distance(sample_reference.features, b)
    (challenger, challenger_fid), (champion, champion_fid) = sorted([(a, fid_a), (b, fid_b)], key=lambda x: x[1])
    assert challenger_fid < champion_fid  # lower, by chance: both are real images
    gain, low, high = paired_difference_interval(
        frechet_distance, sample_reference.features, champion, challenger, cfg.bootstrap_draws, cfg.confidence
    )
    decision = decide_promotion(challenger_fid, ChampionComparison("1", champion_fid, gain, low, high, cfg.confidence))
    assert not decision.promote and "lower only within the noise" in decision.reason, decision

    blurred = features_module.extract_features(
        sample_reference.extractor, TF.gaussian_blur(pool[:n], kernel_size=7, sigma=2.0)
    )
    gain, low, high = paired_difference_interval(
        frechet_distance, sample_reference.features, blurred, challenger, cfg.bootstrap_draws, cfg.confidence
    )
    blurred_fid = frechet_distance(sample_reference.features, blurred)
    assert decide_promotion(challenger_fid, ChampionComparison("1", blurred_fid, gain, low, high, 0.95)).promote
    assert not decide_promotion(
        challenger_fid, ChampionComparison("1", blurred_fid, gain, low, high, 0.95), margin=high + 1
    ).promote


def test_per_class_fid_and_conditional_accuracy(sample_reference):
    """A 'generator' that returns held-out images asked for their own labels is as accurate as the
    classifier on real images; asked for shuffled labels it is not."""
    evaluation = sample_reference.score(SampleSource("held-out", images=sample_reference.images))
    inputs = evaluation.inputs
    inputs.fake_rows = [dict(row) for row in sample_reference.rows]
    inputs.classifier = sample_reference.extractor  # the catalog classifier, as for a conditional generator
    from gig_core.evaluation.metrics import compute_metrics

    honest = compute_metrics(["per_class_fid", "conditional_accuracy"], inputs)
    assert honest.values["cond_acc_articleType"] == honest.values["real_acc_articleType"] > 0.7
    per_class = honest.values["per_class_fid"]
    assert len(per_class) >= 5 and all(v < 1e-6 for v in per_class.values())  # identical images per class
    shuffled = torch.randperm(len(inputs.fake_rows), generator=torch.Generator().manual_seed(0)).tolist()
    inputs.fake_rows = [dict(sample_reference.rows[i]) for i in shuffled]
    liar = compute_metrics(["per_class_fid", "conditional_accuracy"], inputs)
    assert liar.values["cond_acc_articleType"] < 0.3
    assert min(liar.values["per_class_fid"].values()) > 1.0


def test_ms_ssim_sees_a_collapsed_generator(sample_reference):
    varied = score(sample_reference, "held-out", sample_reference.images)
    collapsed = score(sample_reference, "one image", sample_reference.images[:1].repeat(200, 1, 1, 1))
    assert varied["ms_ssim"] == pytest.approx(varied["ms_ssim_real"]) and varied["ms_ssim"] < 0.6
    assert collapsed["ms_ssim"] == pytest.approx(1.0) and collapsed["overall_spread"] == pytest.approx(0.0, abs=1e-6)


def test_reference_features_are_cached_per_catalog_split_and_extractor(sample_reference, monkeypatch):
    calls = []
    real_extract = features_module.extract_features
    monkeypatch.setattr(features_module, "extract_features", lambda *a, **k: calls.append(1) or real_extract(*a, **k))
    again = ReferenceSet(sample_reference.config, progress=False)
    assert calls == [] and torch.equal(again.features, sample_reference.features)  # no real image re-extracted
    cached = sorted(p.name for p in (Path(sample_reference.config.cache_dir) / "reference").glob("*.pt"))
    assert any("-heldout-catalog-r2-s300-32px" in name for name in cached)
    assert any("-train-catalog-r2-s300-32px" in name for name in cached)


def test_torchscript_extractor_by_path(sample_reference, tmp_path):
    class Thumbnails(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)  # (B, 48)

    path = tmp_path / "thumbs.pt"
    with pytest.warns(FutureWarning):  # torch 2.14 deprecates TorchScript in favour of torch.export
        torch.jit.save(torch.jit.script(Thumbnails()), str(path))
    config = replace(
        sample_reference.config,
        feature_extractor="torchscript",
        torchscript_extractor=str(path),
        metrics=["fid", "kid", "precision_recall"],
    )
    reference = ReferenceSet(config, progress=False)
    assert reference.features.shape == (len(reference.images), 48)
    real = score(reference, "train", random_train_images(reference, len(reference.images), 0))
    noise = score(reference, "noise", torch.randint(0, 256, reference.images.shape, dtype=torch.uint8))
    assert real["fid"] < noise["fid"] and real["feature_extractor"] == "torchscript"
    assert any(
        p.name.split("-heldout-")[1].startswith("torchscript-")
        for p in (Path(config.cache_dir) / "reference").glob("*-heldout-*.pt")
    )

    exported = tmp_path / "thumbs.pt2"
    torch.export.save(
        torch.export.export(
            Thumbnails(), (torch.rand(2, 3, 32, 32),), dynamic_shapes=({0: torch.export.Dim("batch")},)
        ),
        str(exported),
    )
    from_export = ReferenceSet(replace(config, torchscript_extractor=str(exported)), progress=False)
    assert torch.allclose(from_export.features, reference.features)


def test_gig_evaluate_samples_dir(sample_reference, tmp_path):
    """Any tool's output: a folder of PNGs at another size, scored through the CLI."""
    folder = tmp_path / "other_tool"
    for i, image in enumerate(random_train_images(sample_reference, 120, 3)):
        (folder / ("a" if i % 2 else "b")).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).resize((48, 48)).save(
            folder / ("a" if i % 2 else "b") / f"{i}.png"
        )
    (folder / "notes.txt").write_text("not an image, ignored")
    cfg = sample_reference.config
    out = tmp_path / "evaluate"
    (tmp_path / "none.yaml").write_text("")  # an empty params file: defaults, not the repository's params.yaml
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gig_core.cli",
            "evaluate",
            "--quiet",
            "--samples",
            str(folder),
            "--data-dir",
            cfg.data_dir,
            "--cache-dir",
            cfg.cache_dir,
            "--out-dir",
            str(out),
            "--params",
            str(tmp_path / "none.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "fid" in result.stdout and (out / "metrics.json").is_file() and (out / "report.html").is_file()
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_samples"] == 120 and "per_class_fid" not in metrics  # a folder carries no labels
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not a png")
    failed = subprocess.run(
        [
            sys.executable,
            "-m",
            "gig_core.cli",
            "evaluate",
            "--samples",
            str(bad),
            "--data-dir",
            cfg.data_dir,
            "--cache-dir",
            cfg.cache_dir,
            "--out-dir",
            str(tmp_path / "e2"),
            "--params",
            str(tmp_path / "none.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert failed.returncode == 2 and "unreadable image(s)" in failed.stderr and "broken.png" in failed.stderr


class PhotoLookup(torch.nn.Module):
    """A stand-in generator that answers with real training photos of the requested condition cell:
    z picks the photo (varied), or every z gets the cell's first photo (collapsed, like a
    generator that ignores its noise)."""

    def __init__(self, images: torch.Tensor, labels: dict[str, torch.Tensor], varied: bool, blur: bool = False):
        super().__init__()
        self.images, self.labels, self.varied = images, labels, varied
        if blur:
            self.images = TF.gaussian_blur(images, kernel_size=7, sigma=2.0)
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # sampling asks a generator for its device

    def forward(self, z: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor:
        picks = []
        for i in range(len(z)):
            match = torch.nonzero(torch.stack([self.labels[a] == labels[a][i] for a in labels]).all(0)).flatten()
            if not len(match):  # a held-out-only combination: any photo of the articleType
                match = torch.nonzero(self.labels["articleType"] == labels["articleType"][i]).flatten()
            k = int(z[i].abs().sum() * 1e4) % len(match) if self.varied else 0
            picks.append(match[k])
        return self.images[torch.stack(picks)].float() / 127.5 - 1  # (B, 3, R, R) in [-1, 1]


def photo_lookup(reference: ReferenceSet, varied: bool, blur: bool = False):
    from gig_core.models import Architecture
    from gig_core.sampling import GeneratorBundle

    train = reference.train_split()
    attributes = ["articleType", "baseColour"]
    arch = Architecture(
        model="cgan",
        resolution=reference.resolution,
        z_dim=8,
        g_channels=0,
        d_channels=0,
        vocab={a: reference.vocab[a] for a in attributes},
    )
    return GeneratorBundle(PhotoLookup(train.images, {a: train.labels[a] for a in attributes}, varied, blur), arch)


def test_within_class_diversity_tells_real_variety_from_one_image_per_cell(sample_reference):
    varied = sample_reference.score(
        SampleSource("real photos of each cell", bundle=photo_lookup(sample_reference, True))
    )
    collapsed = sample_reference.score(SampleSource("one photo per cell", bundle=photo_lookup(sample_reference, False)))
    v, c = varied.result.values, collapsed.result.values
    assert v["within_class_cells"] == c["within_class_cells"] >= 20  # articleType x baseColour cells of >= 16 photos
    assert 0.8 < v["within_class_diversity"] < 1.2 and v["within_class_diversity_worst"] > 0.5, v
    assert v["cell_recall"] > 0.5 and v["z_sensitivity"] == pytest.approx(v["z_sensitivity_real"], rel=0.25)
    assert c["within_class_diversity"] == c["within_class_diversity_worst"] == 0.0
    assert c["cell_recall"] < 0.1 and c["z_sensitivity"] == 0.0
    # The old headline was fooled: across cells the collapsed 'generator' still differs by class.
    assert c["overall_spread"] > 0.7
    cells = collapsed.result.details["cells"]
    assert set(cells) == set(c["per_cell_diversity"]) and all(" / " in name for name in cells)


def test_todays_demo_model_is_refused_by_the_diversity_veto(sample_reference):
    """tests/data/demo_cgan_before_issue10.pt is the generator `make demo` trained before the
    within-class work (commit de2ee4d): 16 near-identical T-shirts per request, FID 12.1."""
    from gig_core.config import RegisterConfig
    from gig_core.registry.promotion import DiversityFloor
    from gig_core.sampling import GeneratorBundle

    bundle = GeneratorBundle.load(Path(__file__).parent / "data" / "demo_cgan_before_issue10.pt")
    values = sample_reference.score(SampleSource("demo model before #10", bundle=bundle)).result.values
    assert values["within_class_diversity"] < 0.35 and values["cell_recall"] < 0.1, values
    assert values["z_sensitivity"] < 0.5 * values["z_sensitivity_real"]
    floor = DiversityFloor(
        values["within_class_diversity"],
        values["within_class_diversity_worst_cell"],
        values["within_class_diversity_worst"],
        RegisterConfig().min_within_class_diversity,
    )
    better_fid = ChampionComparison(
        "1", champion_fid=values["fid"] + 50, improvement=50, improvement_low=40, improvement_high=60, confidence=0.95
    )
    for champion in (None, better_fid):  # no champion yet, or one it beats on FID by far
        decision = decide_promotion(values["fid"], champion, diversity=floor)
        assert not decision.promote and "within-class diversity" in decision.reason
        assert values["within_class_diversity_worst_cell"] in decision.reason


def test_promotion_vetoes_a_collapsed_challenger_whose_fid_beats_the_champion(sample_reference):
    """The champion varies (blurred real photos of each requested cell); the challenger answers
    every request for a cell with the same sharp photo. Its FID is lower beyond the noise, so the
    FID rule alone would promote it; the diversity veto refuses it and says why."""
    from gig_core.config import RegisterConfig
    from gig_core.registry.promotion import DiversityFloor

    cfg = sample_reference.config
    champion = sample_reference.score(
        SampleSource("blurred, varied", bundle=photo_lookup(sample_reference, True, True))
    )
    challenger = sample_reference.score(
        SampleSource("one photo per cell", bundle=photo_lookup(sample_reference, False))
    )
    c = challenger.result.values
    gain, low, high = paired_difference_interval(
        frechet_distance,
        sample_reference.features,
        champion.inputs.fake,
        challenger.inputs.fake,
        cfg.bootstrap_draws,
        cfg.confidence,
    )
    comparison = ChampionComparison("1", champion.result.values["fid"], gain, low, high, cfg.confidence)
    assert c["fid"] < comparison.champion_fid and decide_promotion(c["fid"], comparison).promote  # FID alone: promote
    assert champion.result.values["within_class_diversity"] > 0.5 > c["within_class_diversity"] == 0.0
    floor = DiversityFloor(
        c["within_class_diversity"],
        c["within_class_diversity_worst_cell"],
        c["within_class_diversity_worst"],
        RegisterConfig().min_within_class_diversity,
    )
    decision = decide_promotion(c["fid"], comparison, diversity=floor)
    assert not decision.promote, decision
    assert decision.reason.startswith(
        "within-class diversity 0.000 is below register.min_within_class_diversity 0.5 (worst cell "
    )


def test_precision_floor_refuses_an_untrained_generator(sample_reference, ladder):
    """register.min_first_champion_precision's default (0.3) sits between an initialised generator and real photos."""
    from gig_core.config import RegisterConfig, TrainConfig, load_section
    from gig_core.data.preprocess import load_vocab
    from gig_core.models import Architecture, build_generator
    from gig_core.registry.promotion import FirstChampionFloor
    from gig_core.sampling import GeneratorBundle

    train = load_section("train", None)  # the demo preset with the default family's settings
    vocab = load_vocab(sample_reference.config.data_dir)
    arch = Architecture(
        model=train.model,
        resolution=32,
        z_dim=train.z_dim,
        g_channels=train.g_channels,
        d_channels=train.d_channels,
        embed_dim=train.embed_dim,
        vocab={a: vocab[a] for a in TrainConfig().condition_on},
    )
    torch.manual_seed(0)
    untrained = GeneratorBundle(build_generator(arch).eval(), arch)
    values = sample_reference.score(SampleSource("untrained", bundle=untrained)).result.values
    floor = RegisterConfig().min_first_champion_precision
    assert values["precision"] < floor <= ladder["blurred"]["precision"] < ladder["real"]["precision"], values
    decision = decide_promotion(values["fid"], None, first_floor=FirstChampionFloor(values["precision"], floor))
    assert not decision.promote and "min_first_champion_precision" in decision.reason
