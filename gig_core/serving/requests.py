"""What a request for images may ask, checked before any image is made.

Shared by `gig serve`, the gallery and the MLflow pyfunc model, so every path to the generator
refuses the same things with the same words: too many rows or images, counts and seeds that are
not whole numbers, attribute values the model was not trained on (the valid ones are listed),
display sizes over the limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from gig_core.config import PostprocessConfig
from gig_core.errors import GigError
from gig_core.models import Architecture
from gig_core.postprocess import postprocess_image
from gig_core.sampling import GeneratorBundle, png_bytes, save_png_bytes

SHOWN_VALUES = 30  # valid values listed in an error; the rest are counted
REALISM_DRAWS = 2  # the realism filter draws this many images per one it keeps (rejection sampling)
MAX_TRUNCATION = 10.0  # beyond a few standard deviations truncation changes nothing
SEED_LIMIT = 2**63
MAX_TITLE_CHARS = 200  # a product title, not a document
WORDS = re.compile(r"[A-Za-z0-9]")


def request_fields(arch: Architecture) -> dict[str, Sequence[str] | None]:
    """What a request row may name besides seed and count: each attribute with its known values, or
    for a title model (tgan) a free-text "title" (None: any words)."""
    return {"title": None} if arch.titled else dict(arch.vocab)


@dataclass(frozen=True)
class ServingLimits:
    max_rows: int = 64  # rows (requests for one kind of image) per call
    max_images: int = 256  # images per call, all rows together
    max_size: int = 1024  # long side of a post-processed image, pixels


@dataclass(frozen=True)
class DisplayRequest:
    """How the images come back: post-processed with `settings` to `size` (long side, px), or raw at the
    model's resolution."""

    postprocess: bool
    size: int
    settings: PostprocessConfig = field(default_factory=PostprocessConfig)
    realism_filter: bool = False  # draw REALISM_DRAWS x as many, keep the ones the realism score rates highest
    truncation: float = 0.0  # noise drawn within +-truncation (sampling.py's latents); 0: the plain normal


@dataclass(frozen=True)
class ImageRequest:
    attributes: dict[str, str]  # conditioning attribute -> value (a missing one is drawn at random), or the title
    seed: int
    count: int


class RequestError(GigError):
    """A request the service refuses; `status` is its HTTP code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class RequestCancelled(GigError):
    """Generation stopped: the client left or the deadline passed."""


def _missing(value) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _whole_number(value, name: str, default: int, low: int, high: int, where: str = "") -> int:
    """`value` as an int in [low, high), `default` when missing; errors start with `where` (e.g. "row 2: ")."""
    if _missing(value):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and
                                                                           not value.is_integer()):
        raise RequestError(f"{where}{name} must be a whole number, got {value!r}")
    if not low <= value < high:
        raise RequestError(f"{where}{name} must be in [{low}, {high - 1}], got {int(value)}")
    return int(value)


def _known_values(values: Sequence[str]) -> str:
    shown = ", ".join(map(repr, values[:SHOWN_VALUES]))
    return shown + (f", ... ({len(values)} in all)" if len(values) > SHOWN_VALUES else "")


def _title(value, where: str) -> str:
    """A request's product title: required, a string with at least one letter or digit, bounded."""
    if _missing(value):
        raise RequestError(
            f'{where}this model draws from a product title; give "title", e.g. "Men Navy Blue Casual Shirt"'
        )
    if not isinstance(value, str) or not WORDS.search(value):
        raise RequestError(f"{where}title must be words such as 'Women Pink Sports Watch', got {value!r}")
    if len(value) > MAX_TITLE_CHARS:
        raise RequestError(f"{where}title has {len(value)} characters; at most {MAX_TITLE_CHARS}", status=413)
    return value.strip()


def parse_requests(
    rows: Sequence[Mapping], vocab: Mapping[str, Sequence[str] | None], limits: ServingLimits
) -> list[ImageRequest]:
    """Rows of {attribute: value, "seed": int, "count": int} -> requests, or a RequestError naming the problem.
    vocab: request_fields(arch), each attribute's known values, or None for the free-text title."""
    if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)) or not rows:
        raise RequestError('give at least one row, e.g. [{"articleType": "Tshirts", "count": 4}]')
    if len(rows) > limits.max_rows:
        raise RequestError(f"{len(rows)} rows; at most {limits.max_rows} per request (serve.max_rows)", status=413)
    allowed = [*vocab, "seed", "count"]
    requests, total = [], 0
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise RequestError(f"row {i}: expected an object of {allowed}, got {type(row).__name__}")
        unknown = sorted(set(row) - set(allowed))
        if unknown:
            raise RequestError(f"row {i}: unknown field(s) {unknown}; this model takes {allowed}")
        count = _whole_number(row.get("count"), "count", 1, 1, limits.max_images + 1, f"row {i}: ")
        seed = _whole_number(row.get("seed"), "seed", 0, 0, SEED_LIMIT, f"row {i}: ")
        attributes = {}
        for attribute, values in vocab.items():
            value = row.get(attribute)
            if values is None:
                attributes[attribute] = _title(value, f"row {i}: ")
                continue
            if _missing(value):
                continue
            if not isinstance(value, str) or value not in values:
                raise RequestError(
                    f"row {i}: {attribute}={value!r} is not a value this model knows; known values: "
                    f"{_known_values(list(values))}"
                )
            attributes[attribute] = value
        total += count
        if total > limits.max_images:
            raise RequestError(
                f"the rows ask for more than {limits.max_images} images in all (serve.max_images); split the request",
                status=413,
            )
        requests.append(ImageRequest(attributes, seed, count))
    return requests


def parse_display(params: Mapping | None, defaults: PostprocessConfig, limits: ServingLimits) -> DisplayRequest:
    """The request's `postprocess` (true/false) and `size` options, or a RequestError naming the limit."""
    params = dict(params or {})
    unknown = sorted(set(params) - {"postprocess", "size", "realism_filter", "truncation"})
    if unknown:
        raise RequestError(f"unknown option(s) {unknown}; the options are 'postprocess' (true/false), 'size', "
                           f"'realism_filter' (true/false) and 'truncation' (0 = off, or up to {MAX_TRUNCATION})")
    flags = {}
    for name, default in (("postprocess", True), ("realism_filter", False)):
        value = params.get(name, default)
        value = default if _missing(value) else value
        if not isinstance(value, bool):
            raise RequestError(f"{name} must be true or false, got {value!r}")
        flags[name] = value
    size = _whole_number(params.get("size"), "size", defaults.size, 16, 2**31)
    if size > limits.max_size:
        raise RequestError(f"size {size} is over the limit of {limits.max_size} pixels (max_size)", status=413)
    return DisplayRequest(flags["postprocess"], size, defaults, flags["realism_filter"],
                          truncation_threshold(params.get("truncation")))


def truncation_threshold(value) -> float:
    """The request's `truncation`: 0 (off, the default) or a threshold in standard deviations up to MAX_TRUNCATION."""
    if _missing(value):
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_TRUNCATION:
        raise RequestError(f"truncation must be 0 (off) or a number of standard deviations up to {MAX_TRUNCATION}, "
                           f"e.g. 1.0; got {value!r}")
    return float(value)


def check_budget(bundle: GeneratorBundle, requests: Sequence[ImageRequest], display: DisplayRequest,
                 limits: ServingLimits) -> None:
    """Refuse, before any work, a realism filter on a model without a detector, and a filtered request whose
    draws (REALISM_DRAWS per image kept) exceed max_images."""
    if not display.realism_filter:
        return
    if bundle.realism is None:
        raise RequestError("this model has no realism detector, so realism_filter cannot rank its images: register "
                           "it with gig register after a gig evaluate that measures c2st")
    drawn = REALISM_DRAWS * sum(r.count for r in requests)
    if drawn > limits.max_images:
        raise RequestError(f"the realism filter draws {REALISM_DRAWS}x the images asked for: {drawn} in all, over the "
                           f"limit of {limits.max_images} (serve.max_images); ask for fewer", status=413)


def generate_images(
    bundle: GeneratorBundle,
    requests: Sequence[ImageRequest],
    should_stop: Callable[[], bool] = lambda: False,
    chunk: int = 32,
    display: DisplayRequest | None = None,
) -> list[dict]:
    """[{"request", "index", "png", "realism"}] for every image asked for, post-processed when `display` says
    so, with the model's realism score (display.realism_filter: the best of REALISM_DRAWS x as many draws);
    checks should_stop between chunks of images."""

    def encoded(image) -> bytes:  # (3, R, R) uint8 -> PNG bytes
        if display is None or not display.postprocess:
            return png_bytes(image)
        return save_png_bytes(postprocess_image(image, display.settings, display.size))

    settings = display.settings if display else PostprocessConfig()

    def realism(images: torch.Tensor) -> torch.Tensor:  # (n, 3, R, R) uint8 -> (n,) higher: more real; NaN without
        if bundle.realism is None:
            return torch.full((len(images),), math.nan)
        return bundle.realism.score_samples(images, settings)

    filtered = display is not None and display.realism_filter
    out = []
    for number, request in enumerate(requests):
        drawn = request.count * (REALISM_DRAWS if filtered else 1)
        labels = bundle.encode([request.attributes] * drawn, seed=request.seed) if bundle.arch.conditional else None
        z = bundle.latents(drawn, request.seed, display.truncation if display else 0.0)  # (drawn, z_dim): the same
        # images as bundle.sample, seed for seed, when untruncated
        images, scores = [], []
        for start in range(0, drawn, chunk):
            if should_stop():
                raise RequestCancelled("generation stopped")
            part = {a: t[start : start + chunk] for a, t in labels.items()} if labels else None
            batch = bundle.from_latents(z[start : start + chunk], part)  # (<= chunk, 3, R, R) uint8
            images += list(batch)
            scores.append(realism(batch))
        ranked = torch.cat(scores) if scores else torch.empty(0)  # (drawn,) what the filter ranks by
        keep = range(drawn)
        if filtered:  # the best `count` by the model's realism score, in the order they were drawn
            keep = sorted(ranked.argsort(descending=True, stable=True)[: request.count].tolist())
        shown = bundle.realism.readable(ranked).tolist() if bundle.realism else ranked.tolist()  # what a person reads
        out += [{"request": number, "index": rank, "png": encoded(images[i]), "realism": shown[i]}
                for rank, i in enumerate(keep)]
    return out
