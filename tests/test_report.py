"""The evaluation report opens in a real browser, offline: headless Chromium renders it and
its screenshot is kept in test-artifacts/ for people to look at."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

ARTIFACTS = Path(os.environ.get("GIG_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# No network: the page must not need it, and Chromium must not try its own background requests.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--host-resolver-rules=MAP * ~NOTFOUND"]

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); "
                                                              ".ci/run installs it")


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def test_report_is_self_contained(tiny_run):
    import json

    page = (Path(tiny_run.evaluate.out_dir) / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from anywhere
    cells = json.loads((Path(tiny_run.evaluate.out_dir) / "metrics.json").read_text())["within_class_cells"]
    assert cells >= 3 and "<table id=cells>" in page
    # samples, real, nearest pairs, within-class rows, raw vs post-processed, interpolations; and each cell's strip
    assert page.count("data:image/png;base64,") == 7 + min(cells, 24)  # 7 figures (realism included)
    for key in ("samples", "real", "nearest_pairs", "interpolations", "within_class", "postprocess"):
        assert (Path(tiny_run.evaluate.out_dir) / "report" / f"{key}.png").is_file()


def test_a_generator_that_draws_only_blank_frames_still_gets_every_figure(tiny_run, tmp_path):
    """nearest_pairs.png is a DVC plot: written even when every sample is blank and none is set beside a photo."""
    from dataclasses import replace

    from gig_core.evaluation.evaluate import evaluate

    samples = tmp_path / "blank"
    samples.mkdir()
    for i in range(40):
        Image.new("RGB", (32, 32), (128, 128, 128)).save(samples / f"{i}.png")
    out = tmp_path / "evaluate"
    values = evaluate(replace(tiny_run.evaluate, samples=str(samples), out_dir=str(out), headline_file=""),
                      progress=False)
    assert values["blank_share"] == 1.0 and values["memorized_share"] == 0.0
    assert (out / "report" / "nearest_pairs.png").is_file()
    assert "Every sample is blank" in (out / "report.html").read_text()


@needs_chromium
def test_report_renders_in_headless_chromium(tiny_run, tmp_path):
    report = Path(tiny_run.evaluate.out_dir) / "report.html"
    dom = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<table id=\"metrics\">" in dom.stdout and ">fid<" in dom.stdout and ">precision<" in dom.stdout
    assert dom.stdout.count("<figure") == 7 and "Within-class diversity per condition cell" in dom.stdout

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "evaluation_report.png"
    shot.unlink(missing_ok=True)
    result = chromium("--window-size=1100,2200", f"--screenshot={shot}", report.as_uri(), profile=tmp_path / "profile")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1100, 2200)
    colours = image.resize((220, 440)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50  # rendered text and images, not a blank page
