"""The title model (tgan): it trains through the one trainer (matching-aware), resumes, draws many
images from any words, is scored for text alignment, gates promotion on it, and is asked by
title through gig generate, the pyfunc model and gig serve's request checks."""

from __future__ import annotations

import html
import json
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
import yaml

from gig_core.data.preprocess import load_split
from gig_core.diversity import pixel_spread
from gig_core.evaluation.evaluate import evaluate
from gig_core.registry.promotion import AlignmentComparison, ChampionComparison, decide_promotion
from gig_core.registry.pyfunc import GeneratorPyfunc, signature_for
from gig_core.registry.register import register
from gig_core.sampling import GeneratorBundle, UnknownAttributeError
from gig_core.serving.requests import RequestError, ServingLimits, parse_requests, request_fields
from gig_core.text.attributes import TitleAttributeParser
from gig_core.text.matching import distractors
from gig_core.training.checkpoint import load_checkpoint
from gig_core.training.trainer import train
from tests.conftest import REPO, start_gig_server, tiny_train_config

INVENTED = "Women Pink Sports Watch"  # no such product in the catalog


@pytest.fixture(scope="module")
def tgan_run(tiny_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("tgan")
    config = tiny_train_config(tiny_run.preprocess.out_dir, root / "train", model="tgan", mismatch_weight=1.0,
                               steps=40, cache_dir=str(root / "cache"))
    summary = train(config, progress=False)
    evaluate_config = replace(tiny_run.evaluate, train_dir=config.out_dir, out_dir=str(root / "evaluate"))
    metrics = evaluate(evaluate_config, progress=False)
    return root, config, summary, metrics


def test_title_parser_names_only_what_a_title_says():
    parser = TitleAttributeParser({"articleType": ["Shirts", "Tshirts", "Sports Shoes", "Watches"],
                                   "baseColour": ["Navy Blue", "Blue", "Black", "White"]})
    assert parser.parse("Turtle Check Men Navy Blue Shirt") == {"articleType": "Shirts", "baseColour": "Navy Blue"}
    assert parser.parse("Puma Men Black T-shirt") == {"articleType": "Tshirts", "baseColour": "Black"}
    assert parser.parse("Nike Men Sports Shoes") == {"articleType": "Sports Shoes"}  # no colour named
    assert parser.parse("Black and White Shirt") == {"articleType": "Shirts"}  # two colours: ambiguous
    assert parser.parse("Sportswear Shirtless Bluez") == {}


def test_tgan_trains_matching_aware_and_draws_many_images_per_title(tiny_run, tgan_run):
    root, config, summary, _ = tgan_run
    losses = pd.read_csv(Path(config.out_dir) / "losses.csv")
    assert "d_mismatch" in losses and losses["d_mismatch"].notna().all()
    train_titles = set(load_split(tiny_run.preprocess.out_dir, "train").titles)
    assert summary["grid_rows"] and set(summary["grid_rows"]) <= train_titles  # one training title per row

    bundle = GeneratorBundle.load(Path(config.out_dir) / "generator.pt")
    assert bundle.arch.titled and bundle.arch.model == "tgan"
    same = bundle.sample(6, bundle.encode([{"title": INVENTED}] * 6), seed=1)  # one unseen title, six z
    assert pixel_spread(same) > 0.5, pixel_spread(same)  # z changes the image
    z = bundle.latents(1, seed=1).repeat(2, 1)
    two = bundle.from_latents(z, bundle.encode([{"title": INVENTED}, {"title": "Men Black Heels"}]))
    assert not torch.equal(two[0], two[1])  # the title changes the image
    with pytest.raises(UnknownAttributeError, match="product title"):
        bundle.encode([{"title": "!!"}])


def test_tgan_resumes_exactly(tiny_run, tmp_path):
    def run(out: Path, steps: int, resume: str = "") -> dict:
        config = tiny_train_config(tiny_run.preprocess.out_dir, out, model="tgan", steps=steps, resume=resume,
                                   deterministic=True, sample_every=100, cache_dir=str(tmp_path / "cache"))
        train(config, progress=False)
        return load_checkpoint(out / "checkpoint.pt")

    straight = run(tmp_path / "straight", 20)
    run(tmp_path / "resumed", 10)
    resumed = run(tmp_path / "resumed", 20, resume="auto")
    assert resumed["step"] == 20
    for name, tensor in straight["ema"].items():
        assert torch.equal(tensor, resumed["ema"][name]), name


def test_mismatch_term_needs_a_title_family(tiny_run, tmp_path):
    config = tiny_train_config(tiny_run.preprocess.out_dir, tmp_path, model="hcgan", mismatch_weight=1.0)
    with pytest.raises(ValueError, match="mismatch_weight needs a title-conditioned family"):
        train(config, progress=False)


def test_text_alignment_is_measured_for_the_title_model_only(tiny_run, tgan_run):
    _, _, _, metrics = tgan_run
    heldout = load_split(tiny_run.preprocess.out_dir, "heldout")
    assert metrics["r_precision_candidates"] == min(100, len(set(heldout.titles)))
    for key in ("r_precision", "r_precision_real", "title_acc_articleType", "title_acc_real_articleType"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["r_precision_ci_low"] <= metrics["r_precision"] <= metrics["r_precision_ci_high"]
    assert metrics["title_named_articleType"] > 0
    # the matching model, trained on the training split, finds the real photos' own titles well above chance
    assert metrics["r_precision_real"] > 2.0 / metrics["r_precision_candidates"], metrics["r_precision_real"]
    hcgan = json.loads((Path(tiny_run.evaluate.out_dir) / "metrics.json").read_text())
    assert "r_precision" not in hcgan


def test_distractors_never_repeat_the_own_title():
    titles = ["a", "b", "a", "c", "d"]
    rivals = distractors(titles, 99, seed=0)
    assert rivals.shape == (5, 3)  # at most the other distinct titles
    assert all(titles[int(j)] != titles[i] for i in range(5) for j in rivals[i])


def test_promotion_refuses_a_title_model_whose_alignment_drops_beyond_the_noise():
    def champion(alignment):
        return ChampionComparison("2", 50.0, improvement=10.0, improvement_low=6.0, improvement_high=14.0,
                                  confidence=0.95, alignment=alignment)

    dropped = decide_promotion(40.0, champion(AlignmentComparison(0.30, 0.20, -0.14, -0.06)))
    assert not dropped.promote and "text alignment drops beyond the noise" in dropped.reason
    assert decide_promotion(40.0, champion(AlignmentComparison(0.30, 0.28, -0.06, 0.02))).promote  # within noise
    assert decide_promotion(40.0, champion(None)).promote


@pytest.fixture(scope="module")
def tgan_registry(tiny_run, tgan_run, tmp_path_factory):
    root, config, _, _ = tgan_run
    registry = tiny_run.register_config(tmp_path_factory.mktemp("tgan_registry"), train_dir=config.out_dir,
                                        evaluate_dir=str(root / "evaluate"))
    first = register(registry, progress=False)
    second = register(registry, progress=False)  # the same model again: alignment unchanged, FID not better
    return registry, first, second


def test_register_compares_title_models_on_alignment(tgan_registry):
    registry, first, second = tgan_registry
    assert first.promotion["promote"] and not second.promotion["promote"]
    assert "text alignment" not in second.promotion["reason"]
    mlflow.set_tracking_uri(registry.tracking_uri)
    logged = mlflow.get_run(second.run_id).data.metrics
    assert logged["champion_r_precision_rescored"] == pytest.approx(logged["r_precision"], abs=1e-6)
    assert logged["r_precision_change_low"] <= 0 <= logged["r_precision_change_high"]


def test_gallery_asks_a_title_model_for_words(tgan_registry, tmp_path):
    registry, _, _ = tgan_registry
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["gallery"].update(tracking_uri=registry.tracking_uri, port=0)
    params["postprocess"]["size"] = 120
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    server, url = start_gig_server([sys.executable, "-m", "gig_core.cli", "gallery", "--params",
                                    str(tmp_path / "params.yaml")], tmp_path / "gallery.log", "gig gallery",
                                   cwd=tmp_path)
    try:
        with urllib.request.urlopen(url + "/?" + urllib.parse.urlencode({"title": INVENTED, "count": 3}),
                                    timeout=120) as response:
            page = response.read().decode()
        assert 'type="text" name="title"' in page and f'value="{INVENTED}"' in page
        assert page.count("data:image/png;base64,") == 6  # 3 from the champion (v1), 3 from the challenger (v2)
        assert "R-precision (real photos)" in page
        with urllib.request.urlopen(url + "/", timeout=120) as response:
            empty = response.read().decode()
        assert "draws from a product title" in html.unescape(empty)  # asked without words: says what to give
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_requests_take_a_title_for_a_title_model(tgan_run):
    _, config, _, _ = tgan_run
    bundle = GeneratorBundle.load(Path(config.out_dir) / "generator.pt")
    fields = request_fields(bundle.arch)
    assert fields == {"title": None}
    assert [c.name for c in signature_for(bundle).inputs.inputs] == ["title", "seed", "count"]
    limits = ServingLimits()
    with pytest.raises(RequestError, match="give \"title\""):
        parse_requests([{"count": 2}], fields, limits)
    with pytest.raises(RequestError, match="at most 200"):
        parse_requests([{"title": "shirt " * 50}], fields, limits)
    with pytest.raises(RequestError, match="unknown field"):
        parse_requests([{"title": INVENTED, "articleType": "Watches"}], fields, limits)
    frame = GeneratorPyfunc(bundle).predict(None, pd.DataFrame([{"title": INVENTED, "seed": 3, "count": 2}]))
    assert len(frame) == 2 and frame["png"].map(lambda b: b[:4] == b"\x89PNG").all()


def test_gig_generate_draws_a_row_per_title(tgan_run, tmp_path):
    _, config, _, _ = tgan_run
    gig = [sys.executable, "-m", "gig_core.cli", "generate", "--quiet", "--model", config.out_dir, "-n", "3"]
    out = tmp_path / "titles"
    done = subprocess.run([*gig, "--title", INVENTED, "--title", "Men Black Heels", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [row["title"] for row in manifest["titles"]] == [INVENTED, "Men Black Heels"]
    assert len(list(out.glob("0*.png"))) == 6 and (out / "grid.png").is_file()
    refused = subprocess.run([*gig, "--out", str(tmp_path / "none")], capture_output=True, text=True, cwd=REPO)
    assert refused.returncode == 2 and "give --title" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
