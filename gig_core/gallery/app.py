"""The gallery's web app: pick attributes, compare champion and challenger images side by side
with their metrics and verdict, download a selection as a zip, approve or reject a pending
challenger, see every version's history and evaluation report.

Every request is bounded before work starts (images per model, images per zip, form body size);
errors are a page naming the limit or listing the valid values. Pages are Jinja2 templates with
autoescaping (catalog strings may hold markup) under a Content-Security-Policy that allows no
script at all. Approvals need the approvers' token, compared in constant time.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hmac
import io
import json
import math
import os
import re
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from gig_core.config import GalleryConfig, PostprocessConfig, RegisterConfig
from gig_core.errors import GigError
from gig_core.gallery.plots import history_png
from gig_core.gallery.registry_view import RegistryView, VersionRecord
from gig_core.registry.approval import PENDING, STALE, ApprovalDecision, ApprovalError, decide_approval
from gig_core.registry.loading import ModelLoadError
from gig_core.serving.app import read_body
from gig_core.serving.requests import (
    REALISM_DRAWS,
    DisplayRequest,
    RequestError,
    ServingLimits,
    check_budget,
    generate_images,
    parse_requests,
    request_fields,
    truncation_threshold,
)

TEMPLATES = Path(__file__).with_name("templates")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
PAGE_OPTIONS = ("seed", "count", "filter", "sort", "truncation")  # form fields that are not attributes
PICK = re.compile(r"^(\d{1,9}):(\d{1,4})$")  # VERSION:INDEX of one shown image



class GalleryError(GigError):
    """A request the gallery refuses; `status` is its HTTP code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status

def page_truncation(text: str) -> float:
    """The form's truncation field: empty or 0 is off; otherwise serving's bounds, as a GalleryError."""
    if not text.strip():
        return 0.0
    try:
        return truncation_threshold(float(text))
    except (ValueError, RequestError) as error:
        message = str(error) if isinstance(error, RequestError) else f"truncation must be a number, got {text[:20]!r}"
        raise GalleryError(message) from None


def read_approval_token(config: GalleryConfig) -> bytes | None:
    """The approvers' token from gallery.approval_token_file or the variable it names; None: approvals off."""
    if config.approval_token_file:
        path = Path(config.approval_token_file)
        if not path.is_file():
            raise GigError(f"gallery.approval_token_file: {path} does not exist; create it or leave the key empty")
        token = path.read_text().strip()
    else:
        token = os.environ.get(config.approval_token_env, "").strip()
    return token.encode() if token else None


SORTS = {"drawn": "as drawn", "realism": "most real first"}


@dataclass
class PageRequest:
    """What the generate page asks for: attribute values ('' = any), seed, images per model, the order they are
    shown in, whether the realism filter keeps the best half of twice as many, and the noise's truncation."""

    attributes: dict[str, str]
    seed: int
    count: int
    sort: str = "drawn"
    realism_filter: bool = False
    truncation: float = 0.0  # 0: off (serving/requests.py's truncation_threshold)

    def query(self, **changes) -> str:
        values = {**{k: v for k, v in self.attributes.items() if v}, "seed": self.seed, "count": self.count,
                  "sort": self.sort, **({"filter": "on"} if self.realism_filter else {}),
                  **({"truncation": f"{self.truncation:g}"} if self.truncation else {}), **changes}
        return urllib.parse.urlencode(values)


@dataclass
class ShownImage:
    uri: str  # a PNG data URI
    index: int  # its place in the request, what a download names
    realism: float | None  # the model's realism score, 0-1 (evaluation/realism.py), None without one


@dataclass
class ModelColumn:
    role: str  # champion | challenger
    record: VersionRecord
    images: list[ShownImage] = field(default_factory=list)
    error: str = ""


def _whole(value: str | None, name: str, default: int, limit: int | None, key: str = "") -> int:
    if value in (None, ""):
        return default
    if not value.isdigit():
        raise GalleryError(f"{name} must be a whole number, got {value[:40]!r}")
    number = int(value)
    if limit is not None and number > limit:
        raise GalleryError(f"{name} {number} is over the limit of {limit} ({key})", status=413)
    return number


class Gallery:
    def __init__(self, config: GalleryConfig, display: PostprocessConfig, register: RegisterConfig | None = None):
        self.config, self.display = config, display
        self.register = register or RegisterConfig()
        self.view = RegistryView(config.model_name, config.tracking_uri)
        self.token = read_approval_token(config)
        self.templates = Jinja2Templates(directory=str(TEMPLATES))  # autoescapes .html
        self.templates.env.filters["utc"] = lambda ms: datetime.datetime.fromtimestamp(
            ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M")
        self.generating = asyncio.Semaphore(1)  # generation uses every core: one request at a time

    # --- helpers -------------------------------------------------------------------------------
    def page(self, request: Request, template: str, context: dict, status: int = 200) -> HTMLResponse:
        context = {"model_name": self.config.model_name, **context}
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        return response

    def message(self, request: Request, title: str, text: str, status: int) -> HTMLResponse:
        return self.page(request, "message.html", {"title": title, "text": text}, status)

    async def form(self, request: Request) -> dict[str, list[str]]:
        """A url-encoded form body, refused (413) over gallery.max_body_bytes before it is read whole."""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise GalleryError("send the form as application/x-www-form-urlencoded", 415)
        body = await read_body(request, self.config.max_body_bytes, "gallery.max_body_bytes")
        try:
            return urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        except (UnicodeDecodeError, ValueError) as error:
            raise GalleryError(f"unreadable form: {error}") from None

    def vocab(self, versions: list[str]) -> dict[str, list[str] | None]:
        """The fields to offer: the newest shown model's attribute values, or its free-text title (None)."""
        return request_fields(self.view.generator(max(versions, key=int)).arch)

    def page_request(self, values: dict[str, str], vocab: dict[str, list[str]]) -> PageRequest:
        count = _whole(values.get("count"), "count", self.config.default_count, self.config.max_count,
                       "gallery.max_count")
        if count < 1:
            raise GalleryError("count must be at least 1")
        seed = _whole(values.get("seed"), "seed", 0, 2**63 - 1, "seeds are 63-bit")
        attributes = {a: values.get(a, "") for a in vocab}
        sort = values.get("sort") or "drawn"
        if sort not in SORTS:
            raise GalleryError(f"sort must be one of {sorted(SORTS)}, got {sort[:40]!r}")
        realism_filter = values.get("filter", "") == "on"
        truncation = page_truncation(values.get("truncation", ""))
        unknown = sorted(set(values) - {*vocab, *PAGE_OPTIONS})
        if unknown:
            raise GalleryError(f"unknown field(s) {[u[:40] for u in unknown[:5]]}; this model takes {[*vocab]}")
        asked = {a: v for a, v in attributes.items() if v}  # an empty title is each column's message, below
        parse_requests([asked], {a: v for a, v in vocab.items() if v is not None or a in asked}, ServingLimits())
        return PageRequest(attributes, seed, count, sort, realism_filter, truncation)

    def make_images(self, version: str, asked: PageRequest, size: int) -> list[dict]:
        """[{"png", "index", "realism"}] of `asked` from `version`, post-processed, in the order drawn; the same
        request always gives the same images."""
        bundle = self.view.generator(version)
        row = {**{a: v for a, v in asked.attributes.items() if v}, "seed": asked.seed, "count": asked.count}
        most = max(self.config.max_count, self.config.max_download)
        limits = ServingLimits(max_rows=1, max_images=most * (REALISM_DRAWS if asked.realism_filter else 1))
        requests = parse_requests([row], request_fields(bundle.arch), limits)
        display = DisplayRequest(True, size, self.display, asked.realism_filter, asked.truncation)
        check_budget(bundle, requests, display, limits)
        return generate_images(bundle, requests, display=display)

    # --- pages ---------------------------------------------------------------------------------
    async def generate_page(self, request: Request) -> Response:
        champion, challenger = self.view.champion_and_challenger()
        roles = [("champion", champion)] + ([("challenger", challenger)] if challenger not in (None, champion) else [])
        roles = [(role, version) for role, version in roles if version]
        if not roles:
            return self.message(request, "No models yet", f"{self.config.model_name} has no champion or challenger "
                                f"in {self.config.tracking_uri}; run gig register first", 404)
        vocab = self.vocab([version for _, version in roles])
        asked = self.page_request(dict(request.query_params), vocab)
        columns = []
        async with self.generating:
            for role, version in roles:
                column = ModelColumn(role, self.view.record(version))
                try:
                    made = await asyncio.to_thread(self.make_images, version, asked, self.display.size)
                    column.images = [ShownImage("data:image/png;base64," + base64.b64encode(m["png"]).decode(),
                                                m["index"], None if math.isnan(m["realism"]) else m["realism"])
                                     for m in made]
                    if asked.sort == "realism":
                        column.images.sort(key=lambda image: -(image.realism if image.realism is not None else -1))
                except RequestError as error:  # e.g. a value this older model was not trained on
                    column.error = str(error)
                columns.append(column)
        return self.page(request, "generate.html", {
            "vocab": vocab, "asked": asked, "columns": columns, "max_count": self.config.max_count, "sorts": SORTS,
            "regenerate": "/?" + asked.query(seed=asked.seed + 1), "approvals_on": self.token is not None,
            "pending": PENDING,
        })

    async def history_page(self, request: Request) -> Response:
        records = self.view.history()
        champion, challenger = self.view.champion_and_challenger()
        return self.page(request, "history.html", {
            "records": list(reversed(records)), "champion": champion, "challenger": challenger,
            "plot": "data:image/png;base64," + base64.b64encode(
                history_png(records, self.register.min_within_class_diversity)).decode() if records else "",
        })

    async def report_page(self, request: Request) -> Response:
        version = request.path_params["version"]
        if not version.isdigit():
            raise GalleryError(f"no version {version[:20]!r}", 404)
        html = await asyncio.to_thread(self.view.report_html, version)
        if html is None:
            raise GalleryError(f"version {version} has no evaluation report in the registry", 404)
        return HTMLResponse(html, headers=SECURITY_HEADERS)

    async def download(self, request: Request) -> Response:
        form = await self.form(request)
        picks = form.pop("pick", [])
        if not picks:
            raise GalleryError("select at least one image to download")
        if len(picks) > self.config.max_download:
            raise GalleryError(f"{len(picks)} images selected; at most {self.config.max_download} per download "
                               f"(gallery.max_download)", 413)
        chosen: dict[str, set[int]] = {}
        for pick in picks:
            match = PICK.match(pick)
            if not match or int(match[2]) >= self.config.max_count:
                raise GalleryError(f"bad selection {pick[:30]!r}: expected VERSION:INDEX, index under "
                                   f"{self.config.max_count} (gallery.max_count)")
            chosen.setdefault(match[1], set()).add(int(match[2]))
        if len(chosen) > 2:
            raise GalleryError("a download takes images of at most two versions (champion and challenger)")
        values = {k: v[-1] for k, v in form.items()}
        files: dict[str, bytes] = {}
        async with self.generating:
            for version, indexes in chosen.items():
                vocab = request_fields(self.view.generator(version).arch)
                # the page's own count when filtered: which images the filter keeps depends on how many it draws
                count = values.get("count") if values.get("filter") == "on" else str(max(indexes) + 1)
                asked = self.page_request({**values, "count": count}, vocab)
                made = await asyncio.to_thread(self.make_images, version, asked, self.display.size)
                by_index = {m["index"]: m["png"] for m in made}
                files.update({f"v{version}-{i:03d}.png": by_index[i] for i in sorted(indexes) if i in by_index})
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, png in files.items():
                archive.writestr(name, png)
            archive.writestr("selection.json", json.dumps({
                "model": self.config.model_name,
                "attributes": {k: v for k, v in values.items() if k not in PAGE_OPTIONS},
                "seed": values.get("seed", "0"), "realism_filter": values.get("filter") == "on",
                "truncation": page_truncation(values.get("truncation", "")),
                "images": sorted(files), "postprocess": self.display.__dict__,
            }, indent=2))
        return Response(buffer.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="gig-selection.zip"'})

    async def approval(self, request: Request) -> Response:
        version = request.path_params["version"]
        if not version.isdigit():
            raise GalleryError(f"no version {version[:20]!r}", 404)
        form = {k: v[-1] for k, v in (await self.form(request)).items()}
        if self.token is None:
            raise GalleryError(f"approvals are off: set {self.config.approval_token_env} (or "
                               f"gallery.approval_token_file) where the gallery runs", 403)
        if not hmac.compare_digest(form.get("token", "").encode(), self.token):
            raise GalleryError("the approver token is missing or wrong; nothing was changed", 403)
        decision = form.get("decision", "")
        if decision not in ("approve", "reject"):
            raise GalleryError("decision must be approve or reject")
        from gig_core.registry.register import promotion_lock  # one champion decision at a time, as register

        def decide() -> ApprovalDecision:  # in a thread: the lock may be held by a register re-scoring the champion
            with promotion_lock(self.config.tracking_uri):
                return decide_approval(self.view.client, self.config.model_name, version, decision == "approve",
                                       form.get("by", ""), form.get("comment", ""))

        result = await asyncio.to_thread(decide)
        status = 409 if result.status == STALE else 200
        return self.message(request, f"Version {version}: {result.status}", result.message, status)


def build_gallery(config: GalleryConfig, display: PostprocessConfig, register: RegisterConfig | None = None
                  ) -> Starlette:
    gallery = Gallery(config, display, register)

    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except (GalleryError, ApprovalError, RequestError) as error:
                return gallery.message(request, "Not done", str(error), error.status)
            except ModelLoadError as error:
                return gallery.message(request, "Model unavailable", str(error), 503)
        return endpoint

    async def ping(request: Request) -> Response:
        return Response("ok", media_type="text/plain")

    return Starlette(routes=[
        Route("/", guarded(gallery.generate_page)),
        Route("/history", guarded(gallery.history_page)),
        Route("/versions/{version}/report", guarded(gallery.report_page)),
        Route("/versions/{version}/approval", guarded(gallery.approval), methods=["POST"]),
        Route("/download", guarded(gallery.download), methods=["POST"]),
        Route("/ping", ping),
    ])
