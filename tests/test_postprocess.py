"""Post-processing: a generated square -> a display-ready portrait photo on clean white."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gig_core.config import ConfigError, PostprocessConfig, load_section
from gig_core.evaluation.evaluate import evaluate
from gig_core.postprocess import display_shape, postprocess_image
from gig_core.serving.requests import RequestError, ServingLimits, parse_display


def _square(side: int = 64) -> torch.Tensor:
    """A dark 20x10 (h x w) product left of centre on a near-white, slightly noisy background, one stray speck."""
    image = torch.full((3, side, side), 245, dtype=torch.uint8)
    image[:, ::3, ::5] = 238  # near-white noise: still background
    image[:, 10:30, 8:18] = torch.tensor([30, 60, 120], dtype=torch.uint8)[:, None, None]
    image[:, 60, 60] = 0  # one dark pixel far from the product
    return image


def test_background_is_snapped_to_white_and_the_product_is_cropped_padded_and_resized():
    config = PostprocessConfig(margin=0.1, size=400)
    picture = postprocess_image(_square(), config)
    assert picture.size == (300, 400) == display_shape(config)
    pixels = np.asarray(picture).astype(int)  # (400, 300, 3)
    dark = np.argwhere(pixels.sum(-1) < 400)
    top, left = dark.min(0)
    bottom, right = dark.max(0)
    # the 20 px tall product plus 2 px margins fills a 24 px tall 3:4 canvas: 400/24 px per source pixel
    assert (bottom - top + 1) == pytest.approx(20 * 400 / 24, abs=6)
    assert (top + bottom) / 2 == pytest.approx(200, abs=4) and (left + right) / 2 == pytest.approx(150, abs=4)
    corners = np.concatenate([pixels[:20, :20], pixels[-20:, -20:]]).reshape(-1, 3)
    assert (corners == 255).all()  # the near-white noise is gone, the stray speck is not in the crop


def test_settings_aspect_size_blank_images_and_denoise():
    wide = postprocess_image(_square(), PostprocessConfig(aspect=[4, 3], size=200))
    assert wide.size == (200, 150)
    blank = postprocess_image(torch.full((3, 32, 32), 250, dtype=torch.uint8), PostprocessConfig(size=100))
    assert blank.size == (75, 100) and (np.asarray(blank) == 255).all()  # nothing to crop: plain white
    noisy = _square()
    noisy[:, 40, 40] = 0  # an isolated pixel inside the background
    smooth = np.asarray(postprocess_image(noisy, PostprocessConfig(denoise=True, margin=0.0, size=64)))
    assert smooth.shape == (64, 48, 3)
    with pytest.raises(ConfigError, match=r"postprocess.aspect: got \[3, 0\]; expected \[WIDTH, HEIGHT\]"):
        load_section("postprocess", {"postprocess": {"aspect": [3, 0]}})
    with pytest.raises(ConfigError, match=r"postprocess.background: got \[255, 255\]"):
        PostprocessConfig(background=[255, 255])


def test_display_options_are_bounded():
    limits, defaults = ServingLimits(max_size=512), PostprocessConfig(size=300)
    assert parse_display(None, defaults, limits).size == 300 and parse_display({}, defaults, limits).postprocess
    assert not parse_display({"postprocess": False, "size": 64}, defaults, limits).postprocess
    for params, message in [({"size": 600}, r"size 600 is over the limit of 512 pixels \(max_size\)"),
                            ({"size": 8}, r"size must be in \[16"), ({"size": 1.5}, "size must be a whole number"),
                            ({"postprocess": "yes"}, "postprocess must be true or false"),
                            ({"crop": 1}, r"unknown option\(s\) \['crop'\]")]:
        with pytest.raises(RequestError, match=message):
            parse_display(params, defaults, limits)


def test_post_processed_samples_are_scored_on_the_same_footing(tiny_run, tmp_path):
    """evaluate.postprocessed: the display images, brought back to the reference resolution as real
    photos are, go through every metric; the raw evaluation of the same generator is the baseline."""
    config = replace(tiny_run.evaluate, out_dir=str(tmp_path / "postprocessed"), postprocessed=True, report=False,
                     headline_file="")
    values = evaluate(config, progress=False)
    raw = json.loads((Path(tiny_run.evaluate.out_dir) / "metrics.json").read_text())
    assert values["num_samples"] == raw["num_samples"] and values["within_class_cells"] == raw["within_class_cells"]
    assert values["fid"] != raw["fid"] and np.isfinite(values["fid"]) and values["within_class_diversity"] > 0
