"""`gig serve`: the generator behind a bounded HTTP endpoint, speaking MLflow's scoring protocol.

POST /invocations takes {"dataframe_records": [{attribute: value, "seed": s, "count": n}, ...]}
(or "dataframe_split"), optionally "params": {"postprocess": true/false, "size": long side px},
and answers {"predictions": [{"request", "index", "png": base64}, ...]}, as `mlflow models
serve` does; images are display-ready (gig_core/postprocess.py) unless postprocess is false.
Unlike that server, every limit holds before work starts: the
body size (from Content-Length, then while reading), rows and images per call, one generation
at a time with a short queue (503 beyond it), a deadline per call, and generation stops when
the client disconnects. Errors are one JSON message naming the limit or the valid values, with
no traceback and no echo of the input. The model is read weights-only: serving runs no code
from the registry.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import threading
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gig_core.config import PostprocessConfig, ServeConfig
from gig_core.sampling import GeneratorBundle
from gig_core.serving.requests import (
    DisplayRequest,
    RequestCancelled,
    RequestError,
    ServingLimits,
    check_budget,
    generate_images,
    parse_display,
    parse_requests,
    request_fields,
)

DISCONNECT_POLL_SECONDS = 0.1
ERROR_CODES = {400: "BAD_REQUEST", 413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


def _error(status: int, message: str, code: str = "", headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error_code": code or ERROR_CODES.get(status, "ERROR"), "message": message}
    return JSONResponse(body, status_code=status, headers=headers)


async def read_body(request: Request, limit: int, setting: str = "serve.max_body_bytes") -> bytes:
    """The request body, refused with 413 as soon as it is known to be over `limit` bytes (`setting` names it)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise RequestError(f"request body of {declared} bytes; at most {limit} ({setting})", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(f"request body over {limit} bytes ({setting})", status=413)
    return bytes(body)


def _rows(body: bytes) -> tuple[list, dict | None]:
    """The rows and params of a scoring-protocol JSON body; errors say where, never echo the body."""
    try:
        payload = json.loads(body)
    except UnicodeDecodeError:
        raise RequestError("the body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(payload, dict) or len(set(payload) & {"dataframe_records", "dataframe_split"}) != 1:
        raise RequestError(
            'expected {"dataframe_records": [...]} or {"dataframe_split": {"columns": [...], "data": [[...]]}}'
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise RequestError('"params" must be an object, e.g. {"postprocess": true, "size": 400}')
    if "dataframe_records" in payload:
        return payload["dataframe_records"], params
    split = payload["dataframe_split"]
    if not (
        isinstance(split, dict)
        and isinstance(split.get("columns"), list)
        and isinstance(split.get("data"), list)
        and all(isinstance(r, list) and len(r) == len(split["columns"]) for r in split["data"])
    ):
        raise RequestError('dataframe_split needs "columns" (a list) and "data" (rows of as many values)')
    return [dict(zip(split["columns"], row)) for row in split["data"]], params


class ImageService:
    """One loaded generator and the admission rules around it."""

    def __init__(self, bundle: GeneratorBundle, config: ServeConfig, display: PostprocessConfig):
        self.bundle, self.config, self.display = bundle, config, display
        self.limits = ServingLimits(max_rows=config.max_rows, max_images=config.max_images, max_size=config.max_size)
        self.running = asyncio.Semaphore(1)  # generation uses every core: one at a time
        self.admitted = 0  # running + waiting

    async def invocations(self, request: Request) -> Response:
        try:
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                raise RequestError("send Content-Type: application/json", status=415)
            body = await read_body(request, self.config.max_body_bytes)
            rows, params = _rows(body)
            requests = parse_requests(rows, request_fields(self.bundle.arch), self.limits)
            display = parse_display(params, self.display, self.limits)
            check_budget(self.bundle, requests, display, self.limits)
        except RequestError as error:
            return _error(error.status, str(error))
        if self.admitted > self.config.max_waiting:
            return _error(503, f"{self.admitted} requests in progress or waiting (serve.max_waiting "
                               f"{self.config.max_waiting}); retry later", "BUSY", headers={"Retry-After": "1"})
        self.admitted += 1
        try:
            deadline = time.monotonic() + self.config.deadline_seconds
            async with self.running:
                return await self._generate(request, requests, display, deadline)
        finally:
            self.admitted -= 1

    async def _generate(self, request: Request, requests, display: DisplayRequest, deadline: float) -> Response:
        if time.monotonic() > deadline:
            return _error(
                503,
                f"waited past the deadline of {self.config.deadline_seconds} s (serve.deadline_seconds) "
                f"behind other requests; retry later",
                "DEADLINE_EXCEEDED",
            )
        if await request.is_disconnected():  # left while waiting its turn: nothing to make
            return _error(499, "the client disconnected", "CLIENT_CLOSED")
        gone = threading.Event()
        work = asyncio.create_task(
            asyncio.to_thread(
                generate_images, self.bundle, requests, lambda: gone.is_set() or time.monotonic() > deadline,
                display=display,
            )
        )
        while not work.done():  # the thread checks `gone` between chunks of images
            if await request.is_disconnected():
                gone.set()
            await asyncio.wait({work}, timeout=DISCONNECT_POLL_SECONDS)
        try:
            images = work.result()
        except RequestCancelled:
            if gone.is_set():
                return _error(499, "the client disconnected", "CLIENT_CLOSED")
            return _error(
                503,
                f"generation took longer than {self.config.deadline_seconds} s "
                f"(serve.deadline_seconds); ask for fewer images",
                "DEADLINE_EXCEEDED",
            )
        predictions = [{**row, "png": base64.b64encode(row["png"]).decode("ascii"),
                        "realism": None if math.isnan(row["realism"]) else row["realism"]} for row in images]
        return JSONResponse({"predictions": predictions})


def build_app(bundle: GeneratorBundle, config: ServeConfig, display: PostprocessConfig | None = None) -> Starlette:
    service = ImageService(bundle, config, display or PostprocessConfig())

    async def ping(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": config.model})

    return Starlette(
        routes=[
            Route("/ping", ping),
            Route("/health", ping),
            Route("/invocations", service.invocations, methods=["POST"]),
        ]
    )
