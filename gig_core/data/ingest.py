"""Catalog ingest: join the catalog's rows to their photos and refuse what cannot be trained on.

Nothing valid is dropped and nothing invalid crashes the stage. Every refused row lands in
quarantine.csv with its reason; accepted rows go to catalog.parquet with the photo's content
hash, and the photo bytes to a content-addressed store (blobs/<sha256>) beside it, so later
stages never go back to the source. A broken export (too many refused rows) fails the stage.

Reruns are cheap and idempotent: an image whose source stamp (size + mtime, or S3 ETag) is
unchanged since the previous run is taken from the previous output by content hash instead
of being fetched and decoded again, and the same catalog gives byte-identical outputs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from dataclasses import asdict, dataclass, fields
from multiprocessing import Pool
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from gig_core.atomic import atomic_dir, write_json
from gig_core.config import IngestConfig
from gig_core.data.lineage import catalog_lineage
from gig_core.data.sources import CatalogError, ImageAddress, RefusedReference, open_source, read_uri
from gig_core.data.validation import ImageCheck, ImageLimits, check_image_bytes
from gig_core.layout import IngestOutputs

BLOB_DIR = "blobs"
FACT_COLUMNS = ["sha256", "width", "height", "format", "mode", "orientation"]


@dataclass(frozen=True)
class FetchTask:
    uri: str
    blob_dir: str
    limits: ImageLimits


def fetch_and_check(task: FetchTask) -> ImageCheck:
    """Read one image, validate it, and store its bytes by content hash when it is good."""
    try:
        data = read_uri(task.uri)
    except FileNotFoundError:
        return ImageCheck(reason="image missing")
    except IsADirectoryError:
        return ImageCheck(reason="image unreadable: is a directory")
    except Exception as exc:  # noqa: BLE001 - any I/O or S3 failure is this row's problem only
        return ImageCheck(reason=f"image unreadable: {type(exc).__name__}: {exc}")
    check = check_image_bytes(data, task.limits)
    if not check.reason:
        blob = Path(task.blob_dir) / check.sha256
        if not blob.exists():
            tmp = blob.with_name(f".{blob.name}.{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, blob)
    return check


def read_table(data: bytes, name: str) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """All well-formed rows as strings, plus (line, label, reason) for lines that do not parse."""
    if name.endswith(".parquet"):
        table = pd.read_parquet(io.BytesIO(data))
        return table.astype("string").fillna("").astype(object).astype(str), []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CatalogError(f"{name}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; re-export the table as "
                           f"UTF-8 (e.g. iconv -f cp1252 -t utf-8)") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise CatalogError(f"catalog table is empty: {name}")
    rows, malformed = [], []
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            malformed.append((reader.line_num, f"line {reader.line_num}",
                              f"malformed row: {len(row)} fields, expected {len(header)}"))
        else:
            rows.append(row)
    return pd.DataFrame(rows, columns=header, dtype=str), malformed


def _previous_accepted(out_dir: Path) -> int | None:
    """Accepted rows of the previous run's output, or None when there is none."""
    path = IngestOutputs(out_dir).summary
    if not path.is_file():
        return None
    return int(json.loads(path.read_text()).get("accepted", 0))


def check_catalog_size(accepted: int, previous: int | None, min_kept_fraction: float) -> str | None:
    """Why an export of `accepted` rows must not replace the previous output, or None.

    An empty export, or one that shrank below min_kept_fraction of the previous run's, is far
    more often a broken or partial export than a real catalog change; replacing the previous
    output with it would wipe what the next stages train on.
    """
    if accepted == 0:
        return "no row was accepted"
    if previous and accepted < min_kept_fraction * previous:
        return (f"{accepted} rows were accepted, {accepted / previous:.1%} of the previous run's {previous}, under "
                f"min_kept_fraction={min_kept_fraction:.0%}")
    return None


def _previous_index(out_dir: Path) -> dict[str, dict]:
    path = IngestOutputs(out_dir).source_index
    if not path.is_file():
        return {}
    index = pd.read_parquet(path)
    return {row["uri"]: row for row in index.to_dict("records")}


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _duplicate_reason(kept: dict, row: dict, attributes: list[str]) -> str:
    differ = [a for a in attributes if kept[a] != row[a]]
    reason = f"duplicate photo: same image as id {kept['id']} (kept)"
    if differ:
        reason += "; attributes differ: " + ", ".join(f"{a} ({row[a]!r} vs {kept[a]!r})" for a in differ)
    return reason


def ingest_catalog(config: IngestConfig, progress: bool = True) -> dict:
    """Validate the catalog at config.source and write the stage outputs atomically."""
    source = open_source(config.source, config.table_file)
    table_bytes = source.read_table_bytes()
    table, malformed = read_table(table_bytes, source.table_name)
    needed = [config.id_column, *config.required_attributes]
    needed += [c for c in (config.image_column, config.name_column) if c]
    missing_columns = [c for c in needed if c not in table.columns]
    if missing_columns:
        raise CatalogError(f"catalog table has no column(s) {missing_columns}; columns are {list(table.columns)}")
    mapped = {config.id_column, config.image_column, config.name_column}
    attributes = config.attribute_columns or [c for c in table.columns if c not in mapped]

    quarantine: list[tuple[int, str, str]] = list(malformed)  # (line, id, reason)
    seen: set[str] = set()
    candidates: list[dict] = []
    listing = source.listing()
    for position, row in enumerate(table.to_dict("records")):
        line = position + 2
        product_id = row[config.id_column].strip()
        empty = [a for a in config.required_attributes if not row[a].strip()]
        if not product_id:
            quarantine.append((line, f"line {line}", "empty id"))
        elif product_id in seen:
            quarantine.append((line, product_id, "duplicate id: first row kept"))
        elif empty:
            seen.add(product_id)
            quarantine.append((line, product_id, f"missing attribute: {', '.join(empty)}"))
        else:
            seen.add(product_id)
            ref = row[config.image_column] if config.image_column else config.image_template.format(id=product_id)
            try:
                address = source.address(ref, listing)
            except RefusedReference as exc:
                quarantine.append((line, product_id, f"reference refused, not opened: {exc}"))
                continue
            candidates.append({"line": line, "id": product_id, "image": ref, "address": address,
                               "name": row[config.name_column] if config.name_column else "",
                               **{a: row[a] for a in attributes}})

    out_dir = Path(config.out_dir)
    previous = _previous_index(out_dir)
    limits = ImageLimits(config.min_side, config.max_pixels, config.min_pixel_range)
    judged_by = json.dumps(asdict(limits), sort_keys=True)  # a verdict is reused only under the same limits
    with atomic_dir(out_dir) as tmp:
        blobs = tmp / BLOB_DIR
        blobs.mkdir()
        addresses = list(dict.fromkeys(c["address"] for c in candidates))  # twins listed twice are read once
        checks: dict[str, ImageCheck] = {}
        to_fetch: list[ImageAddress] = []
        for address in addresses:
            old = previous.get(address.uri)
            reusable = (old is not None and address.stamp is not None and old["stamp"] == address.stamp
                        and old.get("limits") == judged_by)
            if reusable and (old["reason"] or (out_dir / BLOB_DIR / old["sha256"]).is_file()):
                check = ImageCheck(**{f.name: old[f.name] for f in fields(ImageCheck)})
                if not check.reason:
                    _link_or_copy(out_dir / BLOB_DIR / check.sha256, blobs / check.sha256)
                checks[address.uri] = check
            else:
                to_fetch.append(address)
        tasks = [FetchTask(a.uri, str(blobs), limits) for a in to_fetch]
        bar = dict(total=len(tasks), desc="ingest: fetching and checking images", unit="img", disable=not progress)
        if config.workers > 1 and len(tasks) > 1:
            with Pool(config.workers) as pool:
                results = list(tqdm(pool.imap(fetch_and_check, tasks, chunksize=32), **bar))
        else:
            results = [fetch_and_check(t) for t in tqdm(tasks, **bar)]
        checks.update({a.uri: c for a, c in zip(to_fetch, results)})

        accepted: list[dict] = []
        first_by_hash: dict[str, dict] = {}
        duplicated: set[str] = set()
        for row in candidates:
            check = checks[row["address"].uri]
            if check.reason:
                quarantine.append((row["line"], row["id"], f"{check.reason}: {row['image']}"))
            elif check.sha256 in first_by_hash:
                kept = first_by_hash[check.sha256]
                duplicated.add(check.sha256)
                quarantine.append((row["line"], row["id"], _duplicate_reason(kept, row, attributes)))
            else:
                first_by_hash[check.sha256] = row
                accepted.append({**row, **{k: getattr(check, k) for k in FACT_COLUMNS}})

        quarantine.sort(key=lambda q: q[0])
        report = pd.DataFrame([(i, r) for _, i, r in quarantine], columns=["id", "reason"])
        total = len(table) + len(malformed)
        summary = {
            "source": source.describe(),
            "rows": total,
            "accepted": len(accepted),
            "quarantined": len(report),
            "quarantined_fraction": round(len(report) / max(total, 1), 6),
            "reasons": report["reason"].str.split(":").str[0].value_counts().sort_index().to_dict(),
            "duplicate_photo_groups": len(duplicated),
        }
        # How this run got there; returned and printed, not written, so reruns stay byte-identical.
        work = {"reused_images": len(checks) - len(to_fetch), "fetched_images": len(to_fetch)}
        if summary["quarantined_fraction"] > config.max_quarantine_fraction:
            rejected = out_dir.with_name(f"{out_dir.name}.rejected")
            with atomic_dir(rejected) as bad:
                report.to_csv(IngestOutputs(bad).quarantine, index=False)
                IngestOutputs(bad).summary.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
            raise CatalogError(
                f"{summary['quarantined']} of {total} rows ({summary['quarantined_fraction']:.1%}) were quarantined, "
                f"over max_quarantine_fraction={config.max_quarantine_fraction:.1%}: the export looks broken, so this "
                f"run stops here. Reasons: {summary['reasons']}. Report: {IngestOutputs(rejected).quarantine}; "
                f"previous outputs kept."
            )

        shrunk = check_catalog_size(len(accepted), _previous_accepted(out_dir), config.min_kept_fraction)
        if shrunk:
            kept = "the previous output is kept" if out_dir.exists() else "nothing was written"
            raise CatalogError(
                f"{source.describe()}: {shrunk}: the export looks empty or partial, so this run stops here and {kept}. "
                f"If the catalog really shrank, lower ingest.min_kept_fraction (0 = off) for this run."
            )

        columns = ["id", "image", "name", *FACT_COLUMNS, *attributes]
        catalog = pd.DataFrame(accepted, columns=columns)
        catalog[["width", "height", "orientation"]] = catalog[["width", "height", "orientation"]].astype("int64")
        catalog.to_parquet(IngestOutputs(tmp).catalog, index=False)
        report.to_csv(IngestOutputs(tmp).quarantine, index=False)
        index = pd.DataFrame(
            [{"uri": a.uri, "stamp": a.stamp, "limits": judged_by, **asdict(checks[a.uri])}
             for a in addresses if a.stamp is not None],
            columns=["uri", "stamp", "limits", *[f.name for f in fields(ImageCheck)]],
        )
        index.to_parquet(IngestOutputs(tmp).source_index, index=False)
        IngestOutputs(tmp).summary.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        lineage = catalog_lineage(tmp, source.describe(), source.table_name, table_bytes, source.table_version(),
                                  listing)
        write_json(IngestOutputs(tmp).lineage, lineage)
    return {**summary, **work}


def read_catalog(ingest_dir: str | Path) -> pd.DataFrame:
    """Accepted rows of an ingest output; photos are at blob_path(ingest_dir, sha256)."""
    return pd.read_parquet(IngestOutputs(ingest_dir).catalog)


def blob_path(ingest_dir: str | Path, sha256: str) -> Path:
    return Path(ingest_dir) / BLOB_DIR / sha256
