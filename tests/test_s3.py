"""Catalogs in S3, against moto's S3 server over real HTTP."""

import http.server
import threading

import pandas as pd
import pytest

from gig_core.config import IngestConfig
from gig_core.data.ingest import ingest_catalog
from gig_core.data.lineage import read_lineage, sha256_file
from gig_core.data.sources import CatalogError, read_uri
from tests.bad_catalog import build_bad_catalog
from tests.conftest import upload_tree


def test_bad_catalog_from_s3_gives_the_identical_catalog(s3_endpoint, tmp_path):
    root, expected, _ = build_bad_catalog(tmp_path / "src")
    upload_tree(root, "shop", "exports/2026-11-27")
    local = IngestConfig(source=str(root / "manifest.csv"), image_column="image", out_dir=str(tmp_path / "local"))
    remote = IngestConfig(source="s3://shop/exports/2026-11-27/manifest.csv", image_column="image",
                          out_dir=str(tmp_path / "s3"))
    ingest_catalog(local, progress=False)
    summary = ingest_catalog(remote, progress=False)
    assert (tmp_path / "s3" / "catalog.parquet").read_bytes() == (tmp_path / "local" / "catalog.parquet").read_bytes()
    reasons = dict(pd.read_csv(tmp_path / "s3" / "quarantine.csv", dtype=str).values)
    assert reasons["920001"].startswith("reference refused, not opened: path escapes the catalog root")
    assert reasons["910005"].startswith("decompression bomb refused before decoding")
    assert summary["source"] == "s3://shop/exports/2026-11-27/"

    again = ingest_catalog(remote, progress=False)  # unchanged objects (same ETag) are not downloaded again
    # all but the two keys that are not in the bucket (the missing photo, the local symlink)
    assert again["reused_images"] == summary["fetched_images"] - 2 and again["fetched_images"] == 2


def test_folder_layout_under_an_s3_prefix(s3_endpoint, tiny_catalog, tmp_path):
    upload_tree(tiny_catalog, "shop", "tiny")
    local = ingest_catalog(IngestConfig(source=str(tiny_catalog), out_dir=str(tmp_path / "a")), progress=False)
    remote = ingest_catalog(
        IngestConfig(source="s3://shop/tiny/", out_dir=str(tmp_path / "b"), workers=2), progress=False
    )
    assert (tmp_path / "a" / "catalog.parquet").read_bytes() == (tmp_path / "b" / "catalog.parquet").read_bytes()
    assert local["accepted"] == remote["accepted"]
    with pytest.raises(CatalogError, match="catalog table not found: s3://shop/nothing/styles.csv"):
        ingest_catalog(IngestConfig(source="s3://shop/nothing/", out_dir=str(tmp_path / "c")), progress=False)


class _FlakyS3(http.server.BaseHTTPRequestHandler):
    """Answers 503 (then 500) before serving the object, like an overloaded S3 front end."""

    failures = [503, 500]
    requests = 0

    def do_GET(self):  # noqa: N802 - http.server's naming
        type(self).requests += 1
        if type(self).failures:
            self.send_response(type(self).failures.pop(0))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"photo bytes"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_s3_reads_retry_5xx_with_backoff(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyS3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        assert read_uri("s3://bucket/images/1.jpg") == b"photo bytes"
        assert _FlakyS3.requests == 3
    finally:
        server.shutdown()


def test_lineage_names_the_catalog_by_content_and_the_s3_versions_it_came_from(s3_endpoint, tiny_catalog, tmp_path):
    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket="versioned")
    client.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    upload_tree(tiny_catalog, "versioned", "tiny")
    ingest_catalog(IngestConfig(source=str(tiny_catalog), out_dir=str(tmp_path / "local")), progress=False)
    ingest_catalog(IngestConfig(source="s3://versioned/tiny/", out_dir=str(tmp_path / "s3")), progress=False)
    local, first = read_lineage(tmp_path / "local"), read_lineage(tmp_path / "s3")
    table = client.head_object(Bucket="versioned", Key="tiny/styles.csv")
    assert first["catalog_sha256"] == local["catalog_sha256"] == sha256_file(tmp_path / "s3" / "catalog.parquet")
    assert first["table_etag"] == table["ETag"].strip('"') and first["table_version_id"] == table["VersionId"]
    assert first["source"] == "s3://versioned/tiny/" and first["source_objects"] == len(list(tiny_catalog.rglob("*.*")))
    assert "table_etag" not in local and local["table_sha256"] == first["table_sha256"]

    photos = sorted((tiny_catalog / "images").glob("*.jpg"))
    client.put_object(Bucket="versioned", Key=f"tiny/images/{photos[0].name}", Body=photos[1].read_bytes())
    client.put_object(Bucket="versioned", Key="tiny/styles.csv", Body=(tiny_catalog / "styles.csv").read_bytes())
    ingest_catalog(IngestConfig(source="s3://versioned/tiny/", out_dir=str(tmp_path / "s3")), progress=False)
    second = read_lineage(tmp_path / "s3")
    assert second["catalog_sha256"] != first["catalog_sha256"]  # a photo changed (now a duplicate, quarantined)
    assert second["source_etags_sha256"] != first["source_etags_sha256"]
    assert second["table_version_id"] != first["table_version_id"] and second["table_sha256"] == first["table_sha256"]
