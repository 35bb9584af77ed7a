import json
from pathlib import Path

import pytest
import torch

from gig_core.config import EvaluateConfig
from gig_core.data.preprocess import load_split
from gig_core.evaluation.evaluate import ReferenceSet, load_evaluate_config
from gig_core.evaluation.features import build_extractor
from gig_core.evaluation.sources import SampleSource


def test_metrics_file(tiny_run):
    metrics = json.loads((Path(tiny_run.evaluate.out_dir) / "metrics.json").read_text())
    assert metrics["fid"] > 0 and metrics["kid_std"] >= 0 and metrics["overall_spread"] > 0
    assert metrics["fid_ci_low"] <= metrics["fid_bias_corrected"] <= metrics["fid_ci_high"]
    assert metrics["fid_ci_low"] < metrics["fid_ci_high"] and metrics["kid_ci_low"] < metrics["kid_ci_high"]
    assert 0 <= metrics["precision"] <= 1 and 0 <= metrics["recall"] <= 1 and 0 <= metrics["memorized_share"] <= 1
    assert metrics["num_samples"] == len(load_split(tiny_run.preprocess.out_dir, "heldout"))
    assert load_evaluate_config(tiny_run.evaluate.out_dir) == tiny_run.evaluate


def test_extractor_is_cached_per_catalog(tiny_run):
    cached = list((Path(tiny_run.evaluate.cache_dir) / "extractors").glob("catalog-*.pt"))
    assert len(cached) == 1
    a = build_extractor(tiny_run.evaluate, progress=False)
    b = build_extractor(tiny_run.evaluate, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_inception_weights_elsewhere_must_exist_and_are_never_downloaded(tiny_run, tmp_path):
    from gig_core.evaluation.inception import InceptionWeightsError

    config = EvaluateConfig(data_dir=tiny_run.preprocess.out_dir, feature_extractor="inception",
                            inception_weights=str(tmp_path / "missing.pt"))
    with pytest.raises(InceptionWeightsError, match="no FID InceptionV3 TorchScript file at .*missing.pt: .*GIG never "
                                                    "downloads weights"):
        build_extractor(config)


def test_reference_set_scores_the_same_model_the_same(tiny_run):
    from gig_core.sampling import GeneratorBundle

    bundle = GeneratorBundle.load(Path(tiny_run.train.out_dir) / "generator.pt")
    reference = ReferenceSet(tiny_run.evaluate, progress=False)
    saved = json.loads((Path(tiny_run.evaluate.out_dir) / "metrics.json").read_text())
    assert reference.score(SampleSource("again", bundle=bundle)).result.values["fid"] == pytest.approx(
        saved["fid"], rel=1e-6
    )
