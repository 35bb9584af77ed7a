import os
import sys

import numpy as np
import pandas as pd
import pytest

from gig_core.config import IngestConfig, PreprocessConfig
from gig_core.data.ingest import CatalogError, blob_path, ingest_catalog
from gig_core.data.preprocess import load_split, preprocess_catalog
from tests.bad_catalog import build_bad_catalog
from tests.conftest import SHARED_CATALOG

_OPENED: list[str] | None = None


def _record_opens(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_record_opens)


@pytest.fixture(scope="module")
def bad_catalog(tmp_path_factory):
    return build_bad_catalog(tmp_path_factory.mktemp("bad"))


def manifest_config(root, out, **kw) -> IngestConfig:
    return IngestConfig(source=str(root / "manifest.csv"), image_column="image", out_dir=str(out), **kw)


def test_every_bad_input_is_quarantined_with_its_reason_and_nothing_valid_is_lost(bad_catalog, tmp_path):
    global _OPENED
    root, expected, secret = bad_catalog
    _OPENED = []
    try:
        summary = ingest_catalog(manifest_config(root, tmp_path / "out", workers=1), progress=False)
        opened = list(_OPENED)
    finally:
        _OPENED = None
    assert not [p for p in opened if "outside" in p or p == str(secret)], "a file outside the catalog root was opened"

    catalog = pd.read_parquet(tmp_path / "out" / "catalog.parquet")
    quarantine = pd.read_csv(tmp_path / "out" / "quarantine.csv", dtype=str)
    reasons = dict(zip(quarantine["id"], quarantine["reason"]))
    for product_id, reason in expected.items():
        if reason is None:
            assert product_id in set(catalog["id"]), f"valid row {product_id} was lost: {reasons.get(product_id)}"
        else:
            assert reasons.get(product_id, "").startswith(reason), (product_id, reasons.get(product_id))
    first_id = next(iter(expected))
    assert list(quarantine["reason"]).count("duplicate id: first row kept") == 1
    assert quarantine[quarantine["reason"] == "duplicate id: first row kept"]["id"].item() == first_id
    assert any(i.startswith("line ") and r.startswith("malformed row: 5 fields") for i, r in reasons.items())
    assert "attributes differ: baseColour ('Olive'" in reasons["910020"]
    assert reasons["910021"] == "image missing: images/910021.jpg"
    assert set(catalog["id"]) == {i for i, r in expected.items() if r is None}
    assert summary["quarantined"] == len(quarantine) and summary["quarantined_fraction"] < 0.05
    facts = catalog.set_index("id")
    assert facts.loc["910016", "format"] == "PNG" and facts.loc["910013", "mode"].startswith("I")
    assert (facts.loc["910015", ["width", "height", "orientation"]].tolist() == [60, 80, 6])
    for sha in catalog["sha256"]:
        assert blob_path(tmp_path / "out", sha).is_file()


def test_awkward_valid_images_are_converted_upright_on_white(bad_catalog, tmp_path):
    root, _, _ = bad_catalog
    ingest_catalog(manifest_config(root, tmp_path / "in"), progress=False)
    preprocess_catalog(PreprocessConfig(ingest_dir=str(tmp_path / "in"), out_dir=str(tmp_path / "pre"),
                                        resolution=32, holdout_fraction=0.01), progress=False)
    split = {
        **{
            i: img
            for i, img in zip(load_split(tmp_path / "pre", "train").ids, load_split(tmp_path / "pre", "train").images)
        },
        **{
            i: img
            for i, img in zip(
                load_split(tmp_path / "pre", "heldout").ids, load_split(tmp_path / "pre", "heldout").images
            )
        },
    }
    rgba = split["910014"].permute(1, 2, 0).numpy().astype(int)  # (32, 32, 3)
    assert (rgba[1, 16] == 255).all() and rgba[16, 16, 0] > 150 and rgba[16, 16, 1] < 60  # white bg, red patch
    rotated = split["910015"].numpy()  # stored rotated 90 degrees with EXIF orientation 6: upright again
    assert (rotated[:, :, :3] == 255).all() and (rotated[:, :, 12:20] < 250).any()  # tall product, white side bars
    sixteen = split["910013"].numpy().astype(int)
    assert sixteen[:, 2:30, 4:28].std() > 20  # a gradient, not clipped to white
    cmyk = split["910012"][:, 16, 16].numpy().astype(int)
    assert abs(cmyk - np.array([40, 90, 200])).max() < 40


def test_rerun_is_byte_identical_and_reuses_unchanged_images(tiny_catalog, tmp_path):
    config = IngestConfig(source=str(tiny_catalog), out_dir=str(tmp_path / "out"))
    first_summary = ingest_catalog(config, progress=False)
    first = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    second_summary = ingest_catalog(config, progress=False)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()} == first
    assert first_summary["fetched_images"] == first_summary["accepted"] + 1  # + the row whose photo is missing
    assert second_summary["reused_images"] == first_summary["accepted"]
    assert second_summary["fetched_images"] == 1  # a missing photo is looked for again every time


def test_changed_limits_judge_every_photo_again(bad_catalog, tmp_path):
    root, _, _ = bad_catalog
    ingest_catalog(manifest_config(root, tmp_path / "out"), progress=False)
    rerun = ingest_catalog(manifest_config(root, tmp_path / "out", min_pixel_range=0), progress=False)
    assert rerun["reused_images"] == 0  # verdicts reached under other limits are not reused
    accepted = set(pd.read_parquet(tmp_path / "out" / "catalog.parquet")["id"])
    assert {"910008", "910009"} <= accepted  # blank frames pass with the check off


def test_a_changed_export_fetches_only_what_changed(tiny_catalog, tmp_path):
    import shutil

    catalog = tmp_path / "catalog"
    shutil.copytree(tiny_catalog, catalog)
    config = IngestConfig(source=str(catalog), out_dir=str(tmp_path / "out"))
    ingest_catalog(config, progress=False)
    images = sorted((catalog / "images").iterdir())
    images[0].write_bytes(images[1].read_bytes())  # one photo replaced
    summary = ingest_catalog(config, progress=False)
    assert summary["fetched_images"] == 2 and summary["duplicate_photo_groups"] == 1  # changed + missing


def test_a_broken_export_fails_and_keeps_the_previous_output(tiny_catalog, tmp_path):
    import shutil

    out = tmp_path / "out"
    ingest_catalog(IngestConfig(source=str(tiny_catalog), out_dir=str(out)), progress=False)
    before = (out / "catalog.parquet").read_bytes()
    broken = tmp_path / "broken"
    shutil.copytree(tiny_catalog, broken)
    for image in sorted((broken / "images").iterdir())[:10]:
        image.write_bytes(b"")
    with pytest.raises(
        CatalogError, match=r"11 of 97 rows \(11.3%\) were quarantined, over max_quarantine_fraction=5.0%"
    ):
        ingest_catalog(IngestConfig(source=str(broken), out_dir=str(out)), progress=False)
    assert (out / "catalog.parquet").read_bytes() == before
    report = pd.read_csv(tmp_path / "out.rejected" / "quarantine.csv")
    assert len(report) == 11
    with pytest.raises(CatalogError, match="source not found|catalog folder not found"):
        ingest_catalog(IngestConfig(source=str(tmp_path / "nope"), out_dir=str(out)), progress=False)
    with pytest.raises(CatalogError, match=r"no column\(s\) \['size'\]"):
        ingest_catalog(
            IngestConfig(source=str(tiny_catalog), out_dir=str(out), required_attributes=["size"]), progress=False
        )
    assert (out / "catalog.parquet").read_bytes() == before


def test_column_mapping_reads_another_schema(tiny_catalog, tmp_path):
    styles = pd.read_csv(tiny_catalog / "styles.csv", dtype=str, keep_default_na=False)
    other = pd.DataFrame(
        {
            "sku": styles["id"],
            "title": styles["productDisplayName"],
            "kind": styles["articleType"],
            "colour": styles["baseColour"],
            "photo": "images/" + styles["id"] + ".jpg",
        }
    )
    other.to_parquet(tiny_catalog.parent / "other.parquet")
    import shutil

    shutil.copytree(tiny_catalog / "images", tiny_catalog.parent / "images", dirs_exist_ok=True)
    config = IngestConfig(
        source=str(tiny_catalog.parent / "other.parquet"),
        id_column="sku",
        image_column="photo",
        name_column="title",
        required_attributes=["kind", "colour"],
        out_dir=str(tmp_path / "out"),
    )
    summary = ingest_catalog(config, progress=False)
    catalog = pd.read_parquet(tmp_path / "out" / "catalog.parquet")
    assert summary["accepted"] == len(styles) - 1 and list(catalog.columns[-2:]) == ["kind", "colour"]
    assert catalog["name"].iloc[0] == styles.set_index("id").loc[catalog["id"].iloc[0], "productDisplayName"]


@pytest.mark.skipif(
    not SHARED_CATALOG.is_dir(), reason=f"the 40k catalog is not at {SHARED_CATALOG} (fresh clone without ../shared)"
)
def test_40k_catalog_reports_exactly_the_rows_whose_image_is_missing(tmp_path):
    styles = pd.read_csv(SHARED_CATALOG / "styles.csv", dtype=str, keep_default_na=False)
    expected_missing = {i for i in styles["id"] if not (SHARED_CATALOG / "images" / f"{i}.jpg").is_file()}
    assert expected_missing  # the shared catalog is known to lack a few photos

    out = tmp_path / "out"
    summary = ingest_catalog(IngestConfig(source=str(SHARED_CATALOG), out_dir=str(out)), progress=False)
    quarantine = pd.read_csv(out / "quarantine.csv", dtype=str)
    missing = quarantine[quarantine["reason"].str.startswith("image missing")]
    assert set(missing["id"]) == expected_missing
    blank = quarantine[quarantine["reason"].str.startswith("blank image")]
    assert set(blank["id"]) == {"44998"}  # a pure white frame listed as a watch; the faintest real photo is kept
    assert summary["accepted"] + summary["quarantined"] == len(styles)
    assert summary["duplicate_photo_groups"] == 542
    print(f"\n40k ingest: {summary}")


def test_gig_ingest_exits_0_on_the_bad_catalog_and_reports(bad_catalog, tmp_path):
    import subprocess

    root, expected, _ = bad_catalog
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gig_core.cli",
            "ingest",
            "--quiet",
            "--source",
            str(root / "manifest.csv"),
            "--image-column",
            "image",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    refused = sum(1 for r in expected.values() if r) + 2  # + the duplicate id and the malformed line
    assert f"{refused} quarantined" in result.stdout and "decompression bomb refused before decoding" in result.stdout


def test_an_empty_or_shrunken_export_keeps_the_previous_output(tiny_catalog, tmp_path):
    """A header-only styles.csv, or one that lost most rows, must not wipe what the next stages train on."""
    import shutil

    out = tmp_path / "out"
    ingest_catalog(IngestConfig(source=str(tiny_catalog), out_dir=str(out)), progress=False)
    before = (out / "catalog.parquet").read_bytes()
    styles = pd.read_csv(tiny_catalog / "styles.csv", dtype=str, keep_default_na=False)

    empty = tmp_path / "empty"
    shutil.copytree(tiny_catalog, empty)
    styles.head(0).to_csv(empty / "styles.csv", index=False)
    with pytest.raises(CatalogError, match=r"no row was accepted: the export looks empty or partial, so this run "
                                           r"stops here and the previous output is kept"):
        ingest_catalog(IngestConfig(source=str(empty), out_dir=str(out)), progress=False)
    assert (out / "catalog.parquet").read_bytes() == before

    shrunk = tmp_path / "shrunk"
    shutil.copytree(tiny_catalog, shrunk)
    styles.head(30).to_csv(shrunk / "styles.csv", index=False)  # 30 of 96 accepted rows
    with pytest.raises(CatalogError, match=r"30 rows were accepted, 31.2% of the previous run's 96, under "
                                           r"min_kept_fraction=50%"):
        ingest_catalog(IngestConfig(source=str(shrunk), out_dir=str(out)), progress=False)
    assert (out / "catalog.parquet").read_bytes() == before
    summary = ingest_catalog(IngestConfig(source=str(shrunk), out_dir=str(out), min_kept_fraction=0.0), progress=False)
    assert summary["accepted"] == 30  # a catalog that really shrank goes through when the user says so


def test_a_non_utf8_table_names_its_file_and_line(tiny_catalog, tmp_path):
    import shutil

    latin = tmp_path / "latin"
    shutil.copytree(tiny_catalog, latin)
    lines = (latin / "styles.csv").read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b",", b",Caf\xe9 ", 1)  # cp1252/latin-1, as some exports write it
    (latin / "styles.csv").write_bytes(b"\n".join(lines))
    with pytest.raises(CatalogError, match=r"styles.csv: line 4: byte 0xe9 is not UTF-8; re-export the table as UTF-8"):
        ingest_catalog(IngestConfig(source=str(latin), out_dir=str(tmp_path / "out")), progress=False)
