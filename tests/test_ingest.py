import shutil

import pandas as pd
import pytest

from gig_core.config import IngestConfig
from gig_core.data.ingest import CatalogError, ingest_catalog
from tests.conftest import MISSING_ID, SHARED_CATALOG, make_tiny_catalog


@pytest.fixture
def dirty_catalog(tmp_path):
    root = make_tiny_catalog(tmp_path / "catalog", per_type=6)
    styles = pd.read_csv(root / "styles.csv", dtype=str, keep_default_na=False)
    good = styles[styles["id"] != MISSING_ID].iloc[0].to_dict()
    images = root / "images"
    (images / "900001.jpg").write_bytes(b"")  # zero bytes
    (images / "900002.jpg").write_bytes(b"this is not a jpeg at all")  # not an image
    jpeg = (images / f"{good['id']}.jpg").read_bytes()
    (images / "900003.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # truncated
    shutil.copyfile(images / f"{good['id']}.jpg", images / "900004.jpg")  # fine photo, empty colour
    extra = [
        {**good, "id": "900001"},
        {**good, "id": "900002"},
        {**good, "id": "900003"},
        {**good, "id": "900004", "baseColour": ""},
        {**good, "id": "../../etc/passwd"},
        dict(good),  # duplicate id
    ]
    pd.concat([styles, pd.DataFrame(extra)]).to_csv(root / "styles.csv", index=False)
    with (root / "styles.csv").open("a") as handle:
        handle.write("900005,Men,Apparel,too,few,fields\n")
    return root, styles


def test_dirty_catalog_quarantines_each_bad_row_with_its_reason(dirty_catalog, tmp_path):
    root, clean_styles = dirty_catalog
    out = tmp_path / "out"
    summary = ingest_catalog(IngestConfig(catalog_dir=str(root), out_dir=str(out)), progress=False)

    catalog = pd.read_parquet(out / "catalog.parquet")
    quarantine = pd.read_csv(out / "quarantine.csv", dtype=str)
    reasons = dict(zip(quarantine["id"], quarantine["reason"]))
    valid_ids = set(clean_styles["id"]) - {MISSING_ID}
    assert set(catalog["id"]) == valid_ids  # every valid row accepted, nothing else
    assert reasons[MISSING_ID] == f"image missing: images/{MISSING_ID}.jpg"
    assert reasons["900001"].startswith("image unreadable: empty file")
    assert reasons["900002"].startswith("image unreadable: UnidentifiedImageError")
    assert reasons["900003"].startswith("image unreadable: OSError")
    assert reasons["900004"] == "missing attribute: baseColour"
    assert reasons["../../etc/passwd"].startswith("id is not a plain file name")
    assert any(r.startswith("malformed row: 6 fields") for r in reasons.values())
    assert list(quarantine["reason"]).count("duplicate id: first row kept") == 1
    assert summary["accepted"] == len(valid_ids) and summary["quarantined"] == len(quarantine) == 8
    row = catalog.iloc[0]
    assert len(row["sha256"]) == 64 and row["width"] > 0 and row["image"] == f"images/{row['id']}.jpg"


def test_rerun_gives_identical_outputs(tiny_catalog, tmp_path):
    config = IngestConfig(catalog_dir=str(tiny_catalog), out_dir=str(tmp_path / "out"))
    ingest_catalog(config, progress=False)
    first = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    ingest_catalog(config, progress=False)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == first


def test_broken_catalog_is_a_clear_error_and_keeps_previous_output(tiny_catalog, tmp_path):
    out = tmp_path / "out"
    ingest_catalog(IngestConfig(catalog_dir=str(tiny_catalog), out_dir=str(out)), progress=False)
    before = (out / "catalog.parquet").read_bytes()
    with pytest.raises(CatalogError, match="catalog folder not found"):
        ingest_catalog(IngestConfig(catalog_dir=str(tmp_path / "nope"), out_dir=str(out)), progress=False)
    with pytest.raises(CatalogError, match="no column"):
        ingest_catalog(IngestConfig(catalog_dir=str(tiny_catalog), out_dir=str(out), required_attributes=["size"]),
                       progress=False)
    assert (out / "catalog.parquet").read_bytes() == before


@pytest.mark.skipif(not SHARED_CATALOG.is_dir(), reason=f"the 40k catalog is not at {SHARED_CATALOG} (fresh clone without ../shared)")
def test_40k_catalog_reports_exactly_the_rows_whose_image_is_missing(tmp_path):
    styles = pd.read_csv(SHARED_CATALOG / "styles.csv", dtype=str, keep_default_na=False)
    expected_missing = {i for i in styles["id"] if not (SHARED_CATALOG / "images" / f"{i}.jpg").is_file()}
    assert expected_missing  # the shared catalog is known to lack a few photos

    out = tmp_path / "out"
    summary = ingest_catalog(IngestConfig(catalog_dir=str(SHARED_CATALOG), out_dir=str(out)), progress=False)
    quarantine = pd.read_csv(out / "quarantine.csv", dtype=str)
    missing = quarantine[quarantine["reason"].str.startswith("image missing")]
    assert set(missing["id"]) == expected_missing
    assert summary["accepted"] + summary["quarantined"] == len(styles)
    print(f"\n40k ingest: {summary}\n{quarantine['reason'].str.split(':').str[0].value_counts().to_dict()}")
