"""The combined realism score (evaluation/realism.py): its parts rank what they should."""

import torch

from gig_core.evaluation.realism import InceptionReference, Standardiser, combined_score


def test_points_on_the_photos_manifold_score_above_points_off_it():
    photos = torch.randn(200, 16, generator=torch.Generator().manual_seed(0))
    reference = InceptionReference.from_photos(photos, k=3)
    assert len(reference.features) == 100  # the half with the largest balls is left out
    near = photos[:5] + 0.01
    far = photos[:5] + 10.0
    assert (reference.log_realism(near) > reference.log_realism(far)).all()


def test_the_scale_is_fixed_so_one_image_ranks_as_it_would_among_many():
    logit_scale, realism_scale = Standardiser.of(torch.randn(100)), Standardiser.of(torch.randn(100))
    logits, realism = torch.randn(10), torch.randn(10)
    many = combined_score(logits, realism, logit_scale, realism_scale)
    one = combined_score(logits[:1], realism[:1], logit_scale, realism_scale)
    assert torch.allclose(one, many[:1])
    # each part counts: a better logit at equal realism scores higher, and the other way round
    assert combined_score(torch.tensor([2.0, 1.0]), torch.zeros(2), logit_scale, realism_scale).argmax() == 0
    assert combined_score(torch.zeros(2), torch.tensor([1.0, 2.0]), logit_scale, realism_scale).argmax() == 1


def test_the_reference_round_trips_through_its_file(tmp_path):
    from gig_core.evaluation.realism import RealismReference

    g = torch.Generator().manual_seed(1)
    reference = RealismReference.fit(torch.randn(50, 8, generator=g), torch.randn(20, 8, generator=g),
                                     torch.randn(20, generator=g), k=3)
    reference.save(tmp_path / "realism.pt")
    loaded = RealismReference.load(tmp_path / "realism.pt")
    logits, features = torch.randn(5, generator=g), torch.randn(5, 8, generator=g)
    assert torch.allclose(loaded.score(logits, features), reference.score(logits, features))


def test_evaluate_writes_the_realism_reference_beside_the_detector(tiny_run):
    from pathlib import Path

    from gig_core.evaluation.realism import RealismReference

    reference = RealismReference.load(Path(tiny_run.evaluate.out_dir) / "realism.pt")
    assert reference.manifold.features.shape[1] == 2048  # the FID network's space
    assert reference.logit_scale.std > 0 and reference.realism_scale.std > 0


def test_a_model_registered_before_the_combined_score_is_ranked_by_its_detector_alone(tiny_run):
    from pathlib import Path

    from gig_core.config import PostprocessConfig
    from gig_core.evaluation.realism import load_realism_scorer
    from gig_core.models.detector import RealnessDetector
    from gig_core.postprocess import as_shown
    from gig_core.sampling import GeneratorBundle

    scorer = load_realism_scorer(Path(tiny_run.evaluate.out_dir) / "detector.pt")  # no realism.pt beside it
    assert isinstance(scorer, RealnessDetector)
    bundle = GeneratorBundle.load(Path(tiny_run.train.out_dir) / "generator.pt")
    images = bundle.sample(6, bundle.encode([{"articleType": "Watches"}] * 6), seed=1)  # (6, 3, R, R)
    shown = scorer.readable(scorer.score_samples(images, PostprocessConfig()))
    assert torch.allclose(shown, scorer.realism(as_shown(images, PostprocessConfig())))  # P(real), as before


def test_an_evaluation_in_another_feature_space_says_why_it_has_no_reference_and_ranks_by_the_detector(tiny_run,
                                                                                                     tmp_path):
    """The pipeline's outputs stay complete (dvc.yaml lists realism.pt) and nothing mismatched gets registered."""
    from dataclasses import replace
    from pathlib import Path

    from gig_core.evaluation.evaluate import evaluate
    from gig_core.evaluation.realism import RealismReference, load_realism_scorer
    from gig_core.layout import EvaluateOutputs
    from gig_core.models.detector import RealnessDetector
    from gig_core.registry.register import realism_artifacts

    config = replace(tiny_run.evaluate, out_dir=str(tmp_path / "evaluate"), feature_extractor="catalog",
                     metrics=["fid", "c2st"], report=False, headline_file="")
    evaluate(config, progress=False)
    files = EvaluateOutputs(Path(config.out_dir))
    assert files.realism.is_file() and RealismReference.load(files.realism) is None
    assert isinstance(load_realism_scorer(files.detector, files.realism), RealnessDetector)
    assert set(realism_artifacts(files, config)) == {"detector"}  # neither realism.pt nor the FID network
    assert set(realism_artifacts(EvaluateOutputs(Path(tiny_run.evaluate.out_dir)), tiny_run.evaluate)) == {
        "detector", "realism", "inception"}
