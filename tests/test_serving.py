"""`gig serve` as a shop would call it, on 127.0.0.1: images back, and every limit enforced
before work starts, with a readable message and no echo of the input."""

from __future__ import annotations

import base64
import io
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from PIL import Image

from gig_core.config import PostprocessConfig
from gig_core.sampling import GeneratorBundle
from gig_core.serving.requests import DisplayRequest, RequestCancelled, ServingLimits, generate_images, parse_requests
from tests.conftest import start_gig_server


def _serve(tiny_run, tmp_path: Path, *flags: str):
    (tmp_path / "empty.yaml").write_text("")
    return start_gig_server(
        [sys.executable, "-m", "gig_core.cli", "serve", "--params", str(tmp_path / "empty.yaml"), "--model",
         tiny_run.train.out_dir, "--port", "0", *flags], tmp_path / "serve.log", "gig serve")


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _records(*rows: dict) -> bytes:
    return json.dumps({"dataframe_records": list(rows)}).encode()


@pytest.fixture(scope="module")
def server(tiny_run, tmp_path_factory):
    process, url = _serve(tiny_run, tmp_path_factory.mktemp("serve"), "--max-images", "64", "--max-rows", "8",
                          "--max-body-bytes", "4096")
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_serve_answers_with_the_images_of_the_train_output(server, tiny_run):
    status, answer = _post(server, _records({"articleType": "Watches", "seed": 7, "count": 3}, {}))
    assert status == 200
    assert [(p["request"], p["index"]) for p in answer["predictions"]] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    images = [base64.b64decode(p["png"]) for p in answer["predictions"]]
    assert all(Image.open(io.BytesIO(png)).size == (300, 400) for png in images)  # display-ready by default
    bundle = GeneratorBundle.load(Path(tiny_run.train.out_dir) / "generator.pt")
    asked = parse_requests([{"articleType": "Watches", "seed": 7, "count": 3}], bundle.arch.vocab, ServingLimits())
    local = generate_images(bundle, asked, display=DisplayRequest(postprocess=True, size=400))
    assert images[:3] == [row["png"] for row in local]  # same images as in-process, seed for seed
    status, raw = _post(server, json.dumps({"dataframe_records": [{"articleType": "Watches", "seed": 7, "count": 3}],
                                            "params": {"postprocess": False}}).encode())
    assert status == 200
    assert [base64.b64decode(p["png"]) for p in raw["predictions"]] == [row["png"] for row in
                                                                       generate_images(bundle, asked)]
    too_big = {"dataframe_records": [{"count": 1}], "params": {"size": 4096}}
    status, refused = _post(server, json.dumps(too_big).encode())
    assert status == 413 and refused["message"] == "size 4096 is over the limit of 1024 pixels (max_size)"
    split = json.dumps({"dataframe_split": {"columns": ["articleType", "count"], "data": [["Heels", 2]]}}).encode()
    assert len(_post(server, split)[1]["predictions"]) == 2


@pytest.mark.parametrize("body, status, message", [
    (_records({"count": 60}, {"count": 5}), 413, "more than 64 images in all (serve.max_images)"),
    (_records(*[{}] * 9), 413, "9 rows; at most 8 per request (serve.max_rows)"),
    (b" " * 5000, 413, "request body of 5000 bytes; at most 4096 (serve.max_body_bytes)"),
    (_records({"count": 2.7}), 400, "row 0: count must be a whole number, got 2.7"),
    (_records({"count": 0}), 400, "row 0: count must be in [1, 64], got 0"),
    (_records({"count": "3"}), 400, "row 0: count must be a whole number, got '3'"),
    (_records({"articleType": "Tshirt"}), 400, "articleType='Tshirt' is not a value this model knows; known values: "
                                               "'Heels', 'Tshirts', 'Watches'"),
    (_records({"colour": "Blue"}), 400, "row 0: unknown field(s) ['colour']; this model takes"),
    (_records(), 400, "give at least one row"),
    (b'{"dataframe_records": [{"count": 2', 400, "invalid JSON at line 1 column 35"),
    (b'[{"count": 1}]', 400, 'expected {"dataframe_records": [...]}'),
])
def test_serve_refuses_with_the_limit_or_the_valid_values_named(server, body, status, message):
    code, answer = _post(server, body)
    assert code == status and message in answer["message"], answer
    assert "/" not in answer["message"].replace("[...]", "")  # no server paths, no traceback
    assert set(answer) == {"error_code", "message"}


def test_serve_refuses_other_content_types_and_stays_healthy(server):
    assert _post(server, b"count\n3\n", "text/csv")[0] == 415
    with urllib.request.urlopen(f"{server}/ping", timeout=10) as response:
        assert response.status == 200


def test_serve_stops_at_its_deadline(tiny_run, tmp_path):
    process, url = _serve(tiny_run, tmp_path, "--deadline-seconds", "0.000001")
    try:
        status, answer = _post(url, _records({"count": 64}))
        assert (
            status == 503
            and answer["error_code"] == "DEADLINE_EXCEEDED"
            and "serve.deadline_seconds" in answer["message"]
        )
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_generation_stops_between_chunks_when_asked(tiny_run):
    """What a disconnect or a deadline does inside the worker thread: no further chunk is made."""
    bundle = GeneratorBundle.load(Path(tiny_run.train.out_dir) / "generator.pt")
    requests = parse_requests([{"count": 64}], bundle.arch.vocab, ServingLimits())
    calls = []

    def stop_after_first_chunk() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(RequestCancelled):
        generate_images(bundle, requests, stop_after_first_chunk, chunk=16)
    assert len(calls) == 2  # one chunk made, then stopped


def test_the_realism_filter_keeps_the_best_half_of_twice_as_many(tiny_run):
    """Rejection sampling by the registered model's realism score (evaluate's detector and Inception realism score
    together): 2n drawn, the n it ranks highest kept in the order drawn, each with the percentile a person reads;
    a model without a detector, or a filtered request over the image limit, is refused before any image is made."""
    from gig_core.evaluation.realism import RealismScorer, load_realism_scorer
    from gig_core.serving.requests import REALISM_DRAWS, RequestError, check_budget

    bundle = GeneratorBundle.load(Path(tiny_run.train.out_dir) / "generator.pt")
    asked = parse_requests([{"articleType": "Watches", "seed": 3, "count": 4}], bundle.arch.vocab, ServingLimits())
    filtered = DisplayRequest(postprocess=True, size=128, realism_filter=True)
    with pytest.raises(RequestError, match="no realism detector"):
        check_budget(bundle, asked, filtered, ServingLimits())
    evaluated = Path(tiny_run.evaluate.out_dir)
    scorer = load_realism_scorer(evaluated / "detector.pt", evaluated / "realism.pt")
    assert isinstance(scorer, RealismScorer)
    ranked = []  # every score the filter ranked by, in the order drawn

    class Recording:
        def score_samples(self, images, display):
            ranked.append(scorer.score_samples(images, display))
            return ranked[-1]

        readable = staticmethod(scorer.readable)

    bundle.realism = Recording()
    check_budget(bundle, asked, filtered, ServingLimits())
    with pytest.raises(RequestError, match="draws 2x") as refused:
        check_budget(bundle, asked, filtered, ServingLimits(max_images=7))
    assert refused.value.status == 413

    every = generate_images(bundle, parse_requests([{"articleType": "Watches", "seed": 3, "count": 4 * REALISM_DRAWS}],
                                                   bundle.arch.vocab, ServingLimits()),
                            display=DisplayRequest(postprocess=True, size=128))
    ranked.clear()
    kept = generate_images(bundle, asked, display=filtered)
    scores = torch.cat(ranked)  # (8,) the combined score of the 8 draws
    assert len(scores) == 4 * REALISM_DRAWS and len(set(scores.tolist())) == len(scores)  # no ties to hide behind
    best = sorted(scores.argsort(descending=True)[:4].tolist())
    assert [row["png"] for row in kept] == [every[i]["png"] for i in best]  # the same draws, the 4 best kept
    assert [row["realism"] for row in kept] == pytest.approx(scorer.readable(scores[best]).tolist())
    assert all(0.0 <= row["realism"] <= 1.0 for row in every)  # a percentile among the evaluation's samples


def test_serve_refuses_the_realism_filter_for_a_model_without_a_detector(server):
    status, answer = _post(server, json.dumps({"dataframe_records": [{"count": 2}],
                                               "params": {"realism_filter": True}}).encode())
    assert status == 400 and "no realism detector" in answer["message"]
    status, answer = _post(server, _records({"count": 1}))
    assert status == 200 and answer["predictions"][0]["realism"] is None  # a train output has no detector


def test_truncation_draws_noise_within_the_threshold_and_is_checked(tiny_run):
    """BigGAN's truncation trick: every noise value within +-t, the same seed the same images; 0 is the plain
    normal the model trained on; a bad value is refused before any image is made."""
    from gig_core.serving.requests import RequestError, parse_display

    bundle = GeneratorBundle.load(Path(tiny_run.train.out_dir) / "generator.pt")
    assert torch.equal(bundle.latents(64, seed=5, truncation=0.0), bundle.latents(64, seed=5))
    z = bundle.latents(64, seed=5, truncation=0.5)  # (64, z_dim)
    assert z.abs().max() <= 0.5 and torch.equal(z, bundle.latents(64, seed=5, truncation=0.5))
    assert bundle.latents(4000, seed=5).abs().max() > 2.0  # untruncated draws do reach the tails

    asked = parse_requests([{"articleType": "Watches", "seed": 3, "count": 3}], bundle.arch.vocab, ServingLimits())
    limits = ServingLimits()
    truncated = parse_display({"truncation": 0.5}, PostprocessConfig(), limits)
    assert truncated.truncation == 0.5 and parse_display({}, PostprocessConfig(), limits).truncation == 0.0
    made = generate_images(bundle, asked, display=truncated)
    plain = generate_images(bundle, asked, display=parse_display({}, PostprocessConfig(), limits))
    assert [m["png"] for m in made] != [m["png"] for m in plain]
    assert [m["png"] for m in made] == [m["png"] for m in generate_images(bundle, asked, display=truncated)]
    for bad in (-0.5, 11, True, "1"):
        with pytest.raises(RequestError, match="truncation must be 0"):
            parse_display({"truncation": bad}, PostprocessConfig(), limits)
