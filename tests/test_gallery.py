"""`gig gallery` as a merchandiser uses it: a real server process over a real sqlite registry,
driven by Debian's Chromium through Playwright.

The registry: v1 champion (a collapsed generator), v2 challenger (the trained tiny one) that the
rule promotes but `register.approval: required` holds as pending. The catalog has a colour
named `<script>...</script>`, which every page must show as text.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import sys
import urllib.parse
import zipfile
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from mlflow import MlflowClient
from PIL import Image

from gig_core.config import EvaluateConfig, IngestConfig, PreprocessConfig, RegisterConfig
from gig_core.data.ingest import ingest_catalog
from gig_core.data.preprocess import preprocess_catalog
from gig_core.evaluation.evaluate import evaluate
from gig_core.registry.approval import decide_approval, mark_pending
from gig_core.registry.register import register
from gig_core.sampling import GeneratorBundle
from gig_core.training.trainer import train
from tests.conftest import REPO, make_tiny_catalog, start_gig_server, tiny_train_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MARKUP = "<script>alert('colour')</script>"
TOKEN = "approver-secret-1234"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium: Playwright cannot download its own browser here."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="module")
def gallery_registry(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gallery")
    catalog = make_tiny_catalog(root / "catalog")
    styles = pd.read_csv(catalog / "styles.csv", dtype=str, keep_default_na=False)
    watches = styles["articleType"] == "Watches"
    styles.loc[watches, "baseColour"] = MARKUP  # a catalog string holding markup
    styles.loc[watches, "productDisplayName"] = MARKUP
    styles.to_csv(catalog / "styles.csv", index=False)
    ingest = IngestConfig(source=str(catalog), out_dir=str(root / "ingest"))
    preprocess = PreprocessConfig(ingest_dir=ingest.out_dir, out_dir=str(root / "preprocess"), holdout_fraction=0.25)
    ingest_catalog(ingest, progress=False)
    preprocess_catalog(preprocess, progress=False)

    def trained(name: str, collapsed: bool) -> tuple[str, str]:
        config = (tiny_train_config(root / "preprocess", root / name, model="cgan", steps=0) if collapsed
                  else tiny_train_config(root / "preprocess", root / name, steps=120))
        train(config, progress=False)
        if collapsed:  # every image one flat colour: a champion the trained model beats beyond the noise
            bundle = GeneratorBundle.load(root / name / "generator.pt")
            with torch.no_grad():
                bundle.generator.body.to_rgb.weight.zero_()
            bundle.save(root / name / "generator.pt")
        evaluate(EvaluateConfig(data_dir=preprocess.out_dir, train_dir=str(root / name),
                                out_dir=str(root / f"{name}-evaluate"), cache_dir=str(root / "cache"),
                                extractor_steps=100, min_cell_images=4), progress=False)
        return str(root / name), str(root / f"{name}-evaluate")

    def register_config(train_dir: str, evaluate_dir: str, approval: str) -> RegisterConfig:
        return RegisterConfig(
            train_dir=train_dir, evaluate_dir=evaluate_dir, out_dir=str(root / "register"), approval=approval,
            tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_dir=str(root / "artifacts"),
            catalog_dvc_file="", ingest_dir=ingest.out_dir, min_within_class_diversity=0.0,
            min_first_champion_precision=0.0)

    first = register(register_config(*trained("collapsed", True), "automatic"), progress=False)
    second = register(register_config(*trained("trained", False), "required"), progress=False)
    assert first.aliases == ["challenger", "champion"]
    assert second.promotion["promote"] and second.approval == "pending", second.promotion["reason"]
    assert second.aliases == ["challenger"]  # champion stays v1 until a person approves
    return root


@pytest.fixture(scope="module")
def gallery(gallery_registry):
    """`gig gallery` in its own process, with the approvers' token in its environment."""
    root = gallery_registry
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["gallery"].update(tracking_uri=f"sqlite:///{root / 'mlflow.db'}", port=0, default_count=4, max_count=8,
                             max_download=6)
    params["postprocess"]["size"] = 200
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    server, url = start_gig_server([sys.executable, "-m", "gig_core.cli", "gallery", "--params",
                                    str(root / "params.yaml")], root / "gallery.log", "gig gallery", cwd=root,
                                   env={**os.environ, "GIG_APPROVAL_TOKEN": TOKEN})
    yield url, root
    server.terminate()
    server.wait(timeout=30)


def _request(url: str, method: str = "GET", body: bytes = b"", headers: dict | None = None) -> tuple[int, str]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                       headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read().decode("utf-8", "replace")


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"gallery_{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_generate_compare_download_and_approve_in_a_browser(gallery, page, tmp_path):
    url, root = gallery
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    # generate: champion and challenger side by side, with their metrics and the verdict
    page.goto(url + "/")
    page.select_option("select[name=articleType]", "Watches")
    page.select_option("select[name=baseColour]", MARKUP)
    page.fill("input[name=count]", "4")
    page.click("#generate")
    assert page.locator("#champion h2").inner_text() == "champion · v1"
    assert page.locator("#challenger h2").inner_text() == "challenger · v2"
    assert page.locator("#champion .pick img").count() == 4 and page.locator("#challenger .pick img").count() == 4
    assert "beats champion v1" in page.locator("#challenger .verdict").inner_text()
    assert page.locator("#challenger .metrics .pending").inner_text() == "pending"
    # the catalog's markup is text: shown verbatim, never run, never parsed into the page
    assert MARKUP in page.locator("#asked").inner_text()
    assert page.locator(f"select[name=baseColour] option[value=\"{MARKUP}\"]").inner_text() == MARKUP
    assert page.locator("script").count() == 0 and not dialogs
    width, height = page.locator("#challenger .pick img").first.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert (width, height) == (150, 200)  # post-processed: portrait 3:4 at postprocess.size 200
    _shot(page, "generate")

    # regenerate: the next seed gives other images
    first_image = page.locator("#challenger .pick img").first.get_attribute("src")
    page.click("#regenerate")
    assert "seed=1" in page.url
    assert page.locator("#challenger .pick img").first.get_attribute("src") != first_image
    page.go_back()

    # download a selection: two of the champion's, one of the challenger's, post-processed PNGs in a zip
    page.check("#champion .pick input >> nth=0")
    page.check("#champion .pick input >> nth=2")
    page.check("#challenger .pick input >> nth=1")
    with page.expect_download() as download:
        page.click("#download")
    archive = tmp_path / "selection.zip"
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as zipped:
        assert sorted(zipped.namelist()) == ["selection.json", "v1-000.png", "v1-002.png", "v2-001.png"]
        selection = json.loads(zipped.read("selection.json"))
        assert selection["attributes"] == {"articleType": "Watches", "baseColour": MARKUP}
        picture = Image.open(zipped.open("v2-001.png"))
        assert picture.format == "PNG" and picture.size == (150, 200)
        assert zipped.read("v2-001.png") == _png_of(page, "#challenger", 1)  # the very image that was ticked

    # approval without the token: refused, nothing changes
    page.fill("#approval-form input[name=by]", "Mia (merchandising)")
    page.fill("#approval-form textarea[name=comment]", "Watches look right")
    page.click("#approve")
    assert "Not done" in page.locator("h1").inner_text()
    assert "token is missing or wrong" in page.locator("#message").inner_text()
    _shot(page, "approval_refused")
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    assert client.get_model_version("gig-generator", "2").tags["approval"] == "pending"
    assert str(client.get_model_version_by_alias("gig-generator", "champion").version) == "1"

    # with the token and a comment: v2 becomes champion, the decision is on the version
    page.go_back()
    page.fill("#approval-form input[name=by]", "Mia (merchandising)")
    page.fill("#approval-form textarea[name=comment]", "Watches look right")
    page.fill("#approval-form input[name=token]", TOKEN)
    page.click("#approve")
    assert page.locator("#message").inner_text() == "version 2 approved and promoted to champion"
    tags = client.get_model_version("gig-generator", "2").tags
    print("\nv2 tags:", json.dumps({k: v for k, v in sorted(tags.items()) if k.startswith(("approval", "promot"))},
                                   indent=1))
    assert tags["approval"] == "approved" and tags["approval.by"] == "Mia (merchandising)"
    assert tags["approval.comment"] == "Watches look right" and tags["approval.compared_with"] == "1"
    assert tags["promoted"] == "True"  # was "pending"
    assert str(client.get_model_version_by_alias("gig-generator", "champion").version) == "2"

    # history: every version, its figures and decision, the plot
    page.goto(url + "/history")
    assert page.locator("#versions tr").count() == 3  # header + 2 versions
    assert "approved by Mia (merchandising): Watches look right" in page.locator("#v2").inner_text()
    assert page.locator("#history-plot").evaluate("i => i.naturalWidth") == 800
    _shot(page, "history")
    page.click("#v2 a")
    assert "Metrics" in page.content() and page.locator("h2").first.is_visible()
    _shot(page, "report_v2")


def _png_of(page, column: str, index: int) -> bytes:
    """The PNG behind the page's index-th image of `column` (a data URI)."""
    src = page.locator(f"{column} .pick img >> nth={index}").get_attribute("src")
    return base64.b64decode(src.split(",", 1)[1])


def test_requests_are_bounded_and_errors_name_the_limit(gallery):
    url, _ = gallery
    status, text = _request(url + "/?count=9")
    assert status == 413 and "count 9 is over the limit of 8 (gallery.max_count)" in text
    status, text = _request(url + "/?baseColour=Plaid")
    assert status == 400 and "baseColour='Plaid' is not a value this model knows; known values:" in unescape(text)
    assert "&lt;script&gt;" in text and "<script>" not in text  # the listed values, escaped
    status, text = _request(url + "/?" + urllib.parse.urlencode({"colour": MARKUP}))
    assert status == 400 and "unknown field(s)" in text and "<script>" not in text
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, text = _request(url + "/download", "POST", b"pick=1:0&" + b"x=" + b"a" * 20000, form)
    assert status == 413 and "at most 16384 (gallery.max_body_bytes)" in text
    picks = "&".join(f"pick=1:{i}" for i in range(7)).encode()
    status, text = _request(url + "/download", "POST", picks, form)
    assert status == 413 and "7 images selected; at most 6 per download (gallery.max_download)" in text
    status, text = _request(url + "/versions/2/approval", "POST", b"decision=approve&by=x&comment=y", form)
    assert status == 403 and "token is missing or wrong" in text
    status, text = _request(url + "/versions/2/approval", "POST", b"decision=approve&by=x&comment=y&token=nope", form)
    assert status == 403
    _, page = _request(url + "/")
    assert "Content-Security-Policy" not in page  # a header, not page content
    connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=60)
    connection.request("GET", "/")
    assert "script-src" not in connection.getresponse().getheader("Content-Security-Policy")  # no script may run


def test_the_gallery_shows_each_images_realism_and_sorts_and_filters_by_it(gallery):
    """Every registered version carries its evaluation's detector: each image shows its P(real); sorted by realism
    the scores fall; the filter keeps the best half of twice as many, and a download of a filtered page gets
    the images shown."""
    import re

    url, _ = gallery
    status, page = _request(url + "/?count=4&seed=3&sort=realism")
    assert status == 200, page
    scores = [float(s) for s in re.findall(r"realism (\d\.\d\d)</span>", page)]
    assert len(scores) >= 4 and scores[:4] == sorted(scores[:4], reverse=True)
    assert "C2ST accuracy</th><td>n/a" not in page  # each version's detector figure, from its run
    assert "real photos' own floor" in page and "real photos at the model's resolution" in page  # both floors
    status, page = _request(url + "/?count=4&seed=3&filter=on")
    assert status == 200 and "the best 4 of 8 by realism" in page
    status, text = _request(url + "/?sort=best")
    assert status == 400 and "sort must be one of" in text
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _ = _request(url + "/download", "POST", b"pick=2:1&pick=2:3&seed=3&count=4&filter=on", form)
    assert status == 200


def test_approval_rechecks_the_champion_and_records_rejections(gallery_registry):
    """Straight on the registry: a pending verdict made against an old champion is stale, and a
    rejection is recorded with who and why."""
    client = MlflowClient(tracking_uri=f"sqlite:///{gallery_registry / 'mlflow.db'}")
    champion = str(client.get_model_version_by_alias("gig-generator", "champion").version)
    mark_pending(client, "gig-generator", "1", compared_with="none")  # compared when there was no champion
    stale = decide_approval(client, "gig-generator", "1", True, "Mia", "old verdict")
    assert stale.status == "stale" and "the promotion rule's verdict is stale" in stale.message
    assert str(client.get_model_version_by_alias("gig-generator", "champion").version) == champion
    mark_pending(client, "gig-generator", "1", compared_with=champion)
    rejected = decide_approval(client, "gig-generator", "1", False, "Ola", "flat colours")
    tags = client.get_model_version("gig-generator", "1").tags
    assert rejected.status == "rejected" and tags["approval"] == "rejected" and tags["approval.by"] == "Ola"
    assert tags["approval.comment"] == "flat colours"
    assert str(client.get_model_version_by_alias("gig-generator", "champion").version) == champion


def test_the_gallery_draws_with_truncated_noise_when_asked_and_keeps_it_for_the_download(gallery):
    """Truncation changes the images, says so on the page, survives "New images" and the download, and a bad value
    is one readable 400."""
    import re

    url, _ = gallery
    status, plain = _request(url + "/?count=2&seed=3")
    assert status == 200, plain
    status, page = _request(url + "/?count=2&seed=3&truncation=0.5")
    assert status == 200 and "noise truncated at 0.5" in page, page
    images = re.compile(r'src="(data:image/png;base64,[^"]+)"')
    assert images.findall(page) and images.findall(page) != images.findall(plain)  # other noise, other images
    assert 'name="truncation" value="0.5"' in page and "truncation=0.5" in page  # download form, New images link
    for bad in ("-1", "11", "abc"):
        status, text = _request(url + f"/?count=2&truncation={bad}")
        assert status == 400 and "truncation must be" in text, text
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _ = _request(url + "/download", "POST", b"pick=2:1&seed=3&count=2&truncation=0.5", form)
    assert status == 200
