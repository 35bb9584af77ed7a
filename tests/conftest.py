"""Shared fixtures: a tiny catalog cut from the bundled sample and one tiny pipeline run.

The tiny run goes through the real stage functions (ingest -> preprocess -> train -> evaluate)
with small models, so every test that needs a trained generator shares one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from gig_core.config import FAMILY_DEFAULTS, EvaluateConfig, IngestConfig, PreprocessConfig, RegisterConfig, TrainConfig
from gig_core.data.ingest import ingest_catalog
from gig_core.data.preprocess import preprocess_catalog
from gig_core.data.sample import sample_catalog_path
from gig_core.evaluation.evaluate import evaluate
from gig_core.training.trainer import train

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

REPO = Path(__file__).resolve().parents[1]
SHARED_CATALOG = REPO.parent / "shared" / "datasets" / "fashion-products-small"
TINY_TYPES = ["Heels", "Tshirts", "Watches"]
TINY_PER_TYPE = 32
MISSING_ID = "39425"  # a real row of the sample whose photo is missing in the source catalog


def make_tiny_catalog(root: Path, per_type: int = TINY_PER_TYPE) -> Path:
    """Copy `per_type` photos of each tiny type (and one row with a missing photo) to root."""
    sample = sample_catalog_path()
    styles = pd.read_csv(sample / "styles.csv", dtype=str, keep_default_na=False)
    present = styles[[(sample / "images" / f"{i}.jpg").is_file() for i in styles["id"]]]
    picked = present[present["articleType"].isin(TINY_TYPES)].groupby("articleType").head(per_type)
    (root / "images").mkdir(parents=True)
    for product_id in picked["id"]:
        shutil.copyfile(sample / "images" / f"{product_id}.jpg", root / "images" / f"{product_id}.jpg")
    rows = pd.concat([picked, styles[styles["id"] == MISSING_ID]])
    rows.to_csv(root / "styles.csv", index=False)
    return root


def tiny_train_config(data_dir: Path, out_dir: Path, **overrides) -> TrainConfig:
    """Small models and a short run of the default family (or `model=`), with the family's own settings."""
    family = FAMILY_DEFAULTS.get(overrides.get("model", TrainConfig.model), {})
    values = dict(
        diversity_weight=family.get("diversity_weight", 0.0), data_dir=str(data_dir), out_dir=str(out_dir),
        g_channels=16, d_channels=16, embed_dim=8, z_dim=32,
        steps=60, batch_size=16, sample_every=30, log_every=10, grid_columns=4, lr_g=1e-3, lr_d=1e-3,
        collapse_threshold=0.0,  # tiny runs are meant to be short, not good
        cache_dir=str(Path(out_dir).parent / "title_cache"),  # tgan's title encoder, never in the checkout
    )
    values.update(overrides)
    return TrainConfig(**values)


@dataclass
class TinyRun:
    root: Path
    catalog: Path
    ingest: IngestConfig
    preprocess: PreprocessConfig
    train: TrainConfig
    evaluate: EvaluateConfig

    def register_config(self, registry: Path, **overrides) -> RegisterConfig:
        values = dict(
            train_dir=self.train.out_dir, evaluate_dir=self.evaluate.out_dir, out_dir=str(registry / "register"),
            tracking_uri=f"sqlite:///{registry / 'mlflow.db'}", artifact_dir=str(registry / "artifacts"),
            catalog_dvc_file=str(registry / "missing.dvc"), ingest_dir=self.ingest.out_dir,
            min_within_class_diversity=0.0,  # these tests are about the FID rule; the veto has its own tests
            min_first_champion_precision=0.0,  # and so has the first champion's floor
        )
        values.update(overrides)
        return RegisterConfig(**values)


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory) -> Path:
    return make_tiny_catalog(tmp_path_factory.mktemp("tiny") / "catalog")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_catalog) -> TinyRun:
    root = tmp_path_factory.mktemp("run")
    ingest = IngestConfig(source=str(tiny_catalog), out_dir=str(root / "ingest"))
    preprocess = PreprocessConfig(ingest_dir=ingest.out_dir, out_dir=str(root / "preprocess"), holdout_fraction=0.25)
    train_config = tiny_train_config(root / "preprocess", root / "train")
    evaluate_config = EvaluateConfig(
        data_dir=preprocess.out_dir, train_dir=train_config.out_dir, out_dir=str(root / "evaluate"),
        cache_dir=str(root / "cache"), extractor_steps=100,
        min_cell_images=4,  # the tiny catalog's largest articleType x baseColour cell has 15 photos
    )
    ingest_catalog(ingest, progress=False)
    preprocess_catalog(preprocess, progress=False)
    train(train_config, progress=False)
    evaluate(evaluate_config, progress=False)
    return TinyRun(root, tiny_catalog, ingest, preprocess, train_config, evaluate_config)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: list[str], log: Path, **popen) -> subprocess.Popen:
    """A long-lived server process writing to a log file: a pipe nobody reads fills up after
    64 KB of access log lines and then blocks the server mid-request."""
    with open(log, "w") as handle:
        server = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, text=True, **popen)
    server.log_path = log
    return server


def server_output(server: subprocess.Popen) -> str:
    log = getattr(server, "log_path", None)
    return (log.read_text() if log else server.stdout.read())[-3000:]


def wait_for_http(url: str, server, what: str, timeout_s: float = 120) -> None:
    """Poll a local server's health URL until it answers 200; fail with its output if it dies or stalls."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert server.poll() is None, server_output(server)
        assert time.monotonic() < deadline, f"{what} did not come up in {timeout_s:.0f} s"
        time.sleep(0.5)


def start_gig_server(args: list[str], log: Path, what: str, timeout_s: float = 120, **popen) -> tuple:
    """`gig serve` or `gig gallery` on port 0, and the URL it printed: the port the OS gave this
    process, so a test never reaches another test session's server on a reused port."""
    import re
    import time

    server = start_server(args, log, **popen)
    deadline = time.monotonic() + timeout_s
    while not (found := re.search(r" on (http://[^/\s]+)/", log.read_text())):
        assert server.poll() is None, server_output(server)
        assert time.monotonic() < deadline, f"{what} did not print its address in {timeout_s:.0f} s"
        time.sleep(0.2)
    url = found.group(1)
    wait_for_http(f"{url}/ping", server, what, timeout_s)
    return server, url


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 in server mode on 127.0.0.1 (real HTTP); boto3 finds it through AWS_ENDPOINT_URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
    )
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def upload_tree(root: Path, bucket: str, prefix: str) -> None:
    """Put every regular file under root into s3://bucket/prefix/ (symlinks are not followed)."""
    import boto3

    client = boto3.client("s3")
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            client.put_object(
                Bucket=bucket, Key=f"{prefix}/{path.relative_to(root).as_posix()}", Body=path.read_bytes()
            )
