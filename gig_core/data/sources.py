"""Where a catalog lives: a local folder, a manifest file, or an S3 prefix.

A source answers three questions: where is the table of rows, what is the stable address
(and change stamp) of an image reference, and what are its bytes. References are resolved
*before* anything is opened: a relative path that leaves the catalog root ("../x", an
absolute path, a symlink pointing out) is refused without touching the file.

S3 goes through boto3 with the standard AWS configuration (environment, ~/.aws, including
AWS_ENDPOINT_URL) and botocore's standard retry mode, which backs off exponentially on
throttling and 5xx answers.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from gig_core.errors import GigError

TABLE_SUFFIXES = (".csv", ".parquet")


class CatalogError(GigError):
    """The catalog as a whole cannot be used (no such folder, bucket or table, no id column, ...)."""


class RefusedReference(Exception):
    """An image reference that must not be opened; the message is the quarantine reason."""


@dataclass(frozen=True)
class ImageAddress:
    """A resolved image reference: `uri` is what gets read, `stamp` changes when the bytes do."""

    uri: str
    stamp: str | None  # None: not found (or unknown), so it is fetched to find out


def _relative(ref: str) -> str:
    """A normalised relative POSIX path, or RefusedReference if it points outside the root."""
    if not ref or ref.strip() != ref:
        raise RefusedReference("empty or padded image reference")
    if ref.startswith(("/", "\\")) or (len(ref) > 1 and ref[1] == ":"):
        raise RefusedReference(f"absolute path outside the catalog root: {ref}")
    normal = posixpath.normpath(ref.replace("\\", "/"))
    if normal == ".." or normal.startswith("../"):
        raise RefusedReference(f"path escapes the catalog root: {ref}")
    return normal


class LocalSource:
    def __init__(self, root: Path, table: Path):
        self.root, self.table = root, table
        self._real_root = os.path.realpath(root)

    def describe(self) -> str:
        return str(self.root)

    @property
    def table_name(self) -> str:
        return str(self.table)

    def read_table_bytes(self) -> bytes:
        if not self.table.is_file():
            raise CatalogError(f"catalog table not found: {self.table}")
        return self.table.read_bytes()

    def table_version(self) -> dict[str, str]:
        return {}  # a folder has no version of its own; DVC's hash of it is the local lineage

    def address(self, ref: str, listing: dict | None = None) -> ImageAddress:
        if ref.startswith("s3://"):
            return S3Source.address_of_uri(ref)
        path = os.path.join(self._real_root, _relative(ref))
        real = os.path.realpath(path)  # follows symlinks via readlink/lstat, never opens
        if os.path.commonpath([real, self._real_root]) != self._real_root:
            raise RefusedReference(f"symlink points outside the catalog root: {ref}")
        try:
            stat = os.stat(real)
        except FileNotFoundError:
            return ImageAddress(real, None)
        return ImageAddress(real, f"{stat.st_size}:{stat.st_mtime_ns}")

    def listing(self) -> dict:
        return {}


class S3Source:
    def __init__(self, bucket: str, prefix: str, table_key: str):
        self.bucket, self.prefix, self.table_key = bucket, prefix, table_key

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def table_name(self) -> str:
        return f"s3://{self.bucket}/{self.table_key}"

    def read_table_bytes(self) -> bytes:
        client = s3_client()
        try:
            response = client.get_object(Bucket=self.bucket, Key=self.table_key)
        except (client.exceptions.NoSuchKey, client.exceptions.NoSuchBucket):
            raise CatalogError(f"catalog table not found: s3://{self.bucket}/{self.table_key}") from None
        self._table_version = {"table_etag": response["ETag"].strip('"')}
        if response.get("VersionId") not in (None, "null"):
            self._table_version["table_version_id"] = response["VersionId"]
        return response["Body"].read()

    def table_version(self) -> dict[str, str]:
        """The ETag (and version id, in a versioned bucket) of the table as read_table_bytes read it."""
        return dict(getattr(self, "_table_version", {}))

    def listing(self) -> dict[str, str]:
        """key -> 'size:etag' for every object under the prefix, in one paginated listing."""
        stamps: dict[str, str] = {}
        paginator = s3_client().get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    stamps[item["Key"]] = f"{item['Size']}:{item['ETag'].strip(chr(34))}"
        except s3_client().exceptions.NoSuchBucket:
            raise CatalogError(f"no such bucket: s3://{self.bucket}") from None
        return stamps

    def address(self, ref: str, listing: dict | None = None) -> ImageAddress:
        if ref.startswith("s3://"):
            return self.address_of_uri(ref, listing)
        key = posixpath.join(self.prefix, _relative(ref)) if self.prefix else _relative(ref)
        return ImageAddress(f"s3://{self.bucket}/{key}", (listing or {}).get(key))

    @staticmethod
    def address_of_uri(uri: str, listing: dict | None = None) -> ImageAddress:
        parsed = urlparse(uri)
        if not parsed.netloc or not parsed.path.strip("/"):
            raise RefusedReference(f"not an s3://bucket/key URI: {uri}")
        return ImageAddress(uri, None)


S3_MAX_ATTEMPTS = 8


def s3_client():
    """One boto3 S3 client per process (and endpoint), configured from the standard AWS environment.

    botocore's "standard" retry mode retries throttling errors and 5xx answers with exponential
    backoff and jitter, up to S3_MAX_ATTEMPTS attempts in all.
    """
    key = (os.getpid(), os.environ.get("AWS_ENDPOINT_URL", ""))
    if key not in _S3_CLIENTS:
        import boto3
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "max_attempts": S3_MAX_ATTEMPTS})
        _S3_CLIENTS.clear()
        _S3_CLIENTS[key] = boto3.client("s3", config=config)
    return _S3_CLIENTS[key]


_S3_CLIENTS: dict = {}


def read_uri(uri: str) -> bytes:
    """The bytes at a local path or an s3:// URI; FileNotFoundError when there is nothing."""
    if not uri.startswith("s3://"):
        return Path(uri).read_bytes()
    parsed = urlparse(uri)
    client = s3_client()
    try:
        return client.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
    except (client.exceptions.NoSuchKey, client.exceptions.NoSuchBucket):
        raise FileNotFoundError(uri) from None


def open_source(source: str, table_file: str):
    """A LocalSource or S3Source for a folder/prefix (table = table_file inside) or a table file."""
    if source.startswith("s3://"):
        parsed = urlparse(source)
        key = parsed.path.lstrip("/")
        if not parsed.netloc:
            raise CatalogError(f"not an s3://bucket/prefix/ URI: {source}")
        if key.endswith(TABLE_SUFFIXES):
            prefix = posixpath.dirname(key)
            return S3Source(parsed.netloc, f"{prefix}/" if prefix else "", key)
        prefix = key if not key or key.endswith("/") else f"{key}/"
        return S3Source(parsed.netloc, prefix, f"{prefix}{table_file}")
    path = Path(source)
    if path.suffix in TABLE_SUFFIXES:
        if not path.is_file():
            raise CatalogError(f"manifest not found: {path}")
        return LocalSource(path.parent, path)
    if not path.is_dir():
        raise CatalogError(f"catalog folder not found: {path}")
    return LocalSource(path, path / table_file)
