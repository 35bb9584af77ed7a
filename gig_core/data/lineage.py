"""Which catalog a model came from, recorded by ingest and logged by register.

The catalog's identity is the content hash of catalog.parquet (one row per accepted photo,
with the photo's sha256, so it changes when any accepted row or image does), plus what the
source itself says about its version: the table's sha256, and for S3 the table's ETag and
version id and a digest of the ETags of every object under the prefix. Locally DVC's hash of
data/ (data.dvc) says the same for `dvc repro`; register records both when it has both.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gig_core.layout import IngestOutputs


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def listing_digest(listing: dict[str, str]) -> str:
    """sha256 of 'key size:etag' lines, sorted: changes when any object under the prefix does."""
    lines = "".join(f"{key} {stamp}\n" for key, stamp in sorted(listing.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def catalog_lineage(ingest_dir: str | Path, source_uri: str, table_name: str, table_bytes: bytes,
                    table_version: dict[str, str], listing: dict[str, str]) -> dict[str, str | int]:
    """The lineage record of the catalog written to ingest_dir (its catalog.parquet must exist)."""
    record: dict[str, str | int] = {
        "catalog_sha256": sha256_file(IngestOutputs(ingest_dir).catalog),
        "source": source_uri,
        "table": table_name,
        "table_sha256": hashlib.sha256(table_bytes).hexdigest(),
        **table_version,  # S3: table_etag, table_version_id (when the bucket keeps versions)
    }
    if listing:
        record.update(source_objects=len(listing), source_etags_sha256=listing_digest(listing))
    return record


def read_lineage(ingest_dir: str | Path) -> dict:
    path = IngestOutputs(ingest_dir).lineage
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no catalog lineage (an ingest output from before lineage was recorded?); rerun gig ingest, "
            f"or set register.ingest_dir: '' to register without the catalog's dataset input"
        )
    return json.loads(path.read_text())
