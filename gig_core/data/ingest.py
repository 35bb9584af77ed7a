"""Catalog ingest: join styles rows to their photos and refuse what cannot be trained on.

Nothing valid is dropped and nothing invalid crashes the stage: every refused row lands in
quarantine.csv with the reason, and the accepted rows go to catalog.parquet together with the
photo's content hash (preprocessing splits and deduplicates by it).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import pandas as pd
from PIL import Image
from tqdm import tqdm

from gig_core.atomic import atomic_dir
from gig_core.config import IngestConfig
from gig_core.errors import GigError

CATALOG_FILE = "catalog.parquet"
QUARANTINE_FILE = "quarantine.csv"
SUMMARY_FILE = "ingest.json"


class CatalogError(GigError):
    """The catalog as a whole cannot be read (no styles file, no id column, ...)."""


@dataclass(frozen=True)
class ImageCheck:
    """What reading one photo found: either its facts or why it was refused."""

    sha256: str = ""
    width: int = 0
    height: int = 0
    reason: str = ""


def check_image(path: Path) -> ImageCheck:
    """Read and fully decode one photo; any failure becomes a reason, never an exception."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ImageCheck(reason="image missing")
    except OSError as exc:
        return ImageCheck(reason=f"image unreadable: {exc.strerror or exc}")
    if not data:
        return ImageCheck(reason="image unreadable: empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            width, height = image.size
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        return ImageCheck(reason=f"image unreadable: {type(exc).__name__}: {exc}")
    return ImageCheck(sha256=hashlib.sha256(data).hexdigest(), width=width, height=height)


def _read_styles(path: Path, id_column: str) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """All well-formed rows as strings, plus (line, reason) for rows that do not parse."""
    if not path.is_file():
        raise CatalogError(f"styles file not found: {path}")
    malformed: list[tuple[str, str]] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise CatalogError(f"styles file is empty: {path}") from None
        if id_column not in header:
            raise CatalogError(f"{path}: no '{id_column}' column; columns are {header}")
        rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                malformed.append((f"line {reader.line_num}", f"malformed row: {len(row)} fields, expected {len(header)}"))
                continue
            rows.append(row)
    return pd.DataFrame(rows, columns=header, dtype=str), malformed


def _row_reason(row: pd.Series, required: list[str], seen_ids: set[str], id_column: str) -> str:
    product_id = row[id_column].strip()
    if not product_id:
        return "empty id"
    if "/" in product_id or "\\" in product_id or product_id.startswith("."):
        return "id is not a plain file name; refused without opening anything"
    if product_id in seen_ids:
        return "duplicate id: first row kept"
    empty = [name for name in required if not str(row.get(name, "")).strip()]
    if empty:
        return f"missing attribute: {', '.join(empty)}"
    return ""


def ingest_catalog(config: IngestConfig, progress: bool = True) -> dict:
    """Validate the catalog in config.catalog_dir and write the stage outputs atomically."""
    root = Path(config.catalog_dir)
    if not root.is_dir():
        raise CatalogError(f"catalog folder not found: {root}")
    styles, malformed = _read_styles(root / config.styles_file, config.id_column)
    missing_columns = [name for name in config.required_attributes if name not in styles.columns]
    if missing_columns:
        raise CatalogError(f"styles file has no column(s) {missing_columns}; columns are {list(styles.columns)}")

    quarantine: list[tuple[str, str]] = list(malformed)
    candidates: list[int] = []
    seen: set[str] = set()
    for index, row in styles.iterrows():
        reason = _row_reason(row, config.required_attributes, seen, config.id_column)
        product_id = row[config.id_column].strip()
        if reason:
            quarantine.append((product_id or f"row {index + 2}", reason))
        else:
            seen.add(product_id)
            candidates.append(index)

    rows = styles.loc[candidates].copy()
    rows[config.id_column] = rows[config.id_column].str.strip()
    rows.insert(1, "image", [f"{config.image_dir}/{i}.jpg" for i in rows[config.id_column]])
    paths = [root / rel for rel in rows["image"]]
    with Pool(max(1, config.workers)) as pool:
        checks = list(
            tqdm(
                pool.imap(check_image, paths, chunksize=64),
                total=len(paths), desc="ingest: reading images", unit="img", disable=not progress,
            )
        )
    ok = [not c.reason for c in checks]
    for product_id, rel, check in zip(rows[config.id_column], rows["image"], checks):
        if check.reason:
            quarantine.append((product_id, f"{check.reason}: {rel}"))
    accepted = rows[ok].copy()
    accepted.insert(2, "sha256", [c.sha256 for c in checks if not c.reason])
    accepted.insert(3, "width", [c.width for c in checks if not c.reason])
    accepted.insert(4, "height", [c.height for c in checks if not c.reason])
    accepted = accepted.rename(columns={config.id_column: "id"}).reset_index(drop=True)

    summary = {
        "catalog_root": str(root),
        "rows": len(styles) + len(malformed),
        "accepted": len(accepted),
        "quarantined": len(quarantine),
        "duplicate_photo_groups": int((accepted["sha256"].value_counts() > 1).sum()),
    }
    with atomic_dir(config.out_dir) as out:
        accepted.to_parquet(out / CATALOG_FILE, index=False)
        pd.DataFrame(quarantine, columns=["id", "reason"]).to_csv(out / QUARANTINE_FILE, index=False)
        (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def read_catalog(ingest_dir: str | Path) -> tuple[pd.DataFrame, Path]:
    """Accepted rows and the catalog root their image paths are relative to."""
    ingest_dir = Path(ingest_dir)
    summary = json.loads((ingest_dir / SUMMARY_FILE).read_text())
    return pd.read_parquet(ingest_dir / CATALOG_FILE), Path(summary["catalog_root"])
