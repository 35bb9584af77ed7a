"""Rebuild the bundled sample catalog (gig_core/data/sample_catalog) from the shared 40k catalog.

Deterministic: rows are ranked by sha256 of their id within each article type, so rerunning
this script gives the same files byte for byte. Rows of the chosen types whose photo is missing
in the source are kept on purpose: they are the real-world dirt that ingest must report.

    python scripts/make_sample_catalog.py ../shared/datasets/fashion-products-small
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

import pandas as pd

ARTICLE_TYPES = [
    "Tshirts", "Shirts", "Jeans", "Casual Shoes", "Heels",
    "Flip Flops", "Watches", "Handbags", "Sunglasses", "Backpacks",
]
PER_TYPE = 200
MAX_BYTES = 6 * 1024 * 1024
DEST = Path(__file__).resolve().parents[1] / "gig_core" / "data" / "sample_catalog"

NOTICE = """Sample catalog bundled with GIG
===============================

{n_images} product photos and {n_rows} rows of styles.csv, {per_type} per article type for
{n_types} article types ({types}), picked deterministically by
scripts/make_sample_catalog.py (rank by sha256 of the product id).

Provenance: the public "Fashion Product Images (Small)" catalog (Myntra product photos with
their listing attributes), as republished in public repositories; taken from the copy in
shared/datasets/fashion-products-small, whose JPEGs had EXIF metadata removed losslessly.
Pixels and CSV values are as published. {n_missing} rows whose photo is missing in the source
catalog are kept, as a real catalog export would have them.

Licence: the photos and listing attributes belong to their publisher (Myntra) and were
collected into the dataset "Fashion Product Images (Small)" by Param Aggarwal on Kaggle
(kaggle.com/datasets/paramaggarwal/fashion-product-images-small). GIG's authors could not
confirm that listing's licence terms from the build machine (no access to Kaggle), and the
public re-publications we could check state none ("unknown"). GIG's own licence does not
cover these files. They are bundled only so that the demo and the tests run offline, as
third-party material for evaluation; check the listing's terms before using or
redistributing them for anything else, and replace them with your own catalog (data/) for
real use.
"""


def _rank(product_id: str) -> str:
    return hashlib.sha256(product_id.encode()).hexdigest()


def build(source: Path, dest: Path = DEST) -> None:
    styles = pd.read_csv(source / "styles.csv", dtype=str, keep_default_na=False)
    styles = styles[styles["articleType"].isin(ARTICLE_TYPES)].copy()
    styles["has_image"] = [(source / "images" / f"{i}.jpg").is_file() for i in styles["id"]]
    styles["rank"] = styles["id"].map(_rank)
    picked = (
        styles[styles["has_image"]]
        .sort_values("rank")
        .groupby("articleType", sort=True)
        .head(PER_TYPE)
    )
    missing = styles[~styles["has_image"]]
    rows = pd.concat([picked, missing]).sort_values("rank")

    if dest.exists():
        shutil.rmtree(dest)
    (dest / "images").mkdir(parents=True)
    for product_id in picked["id"]:
        shutil.copyfile(source / "images" / f"{product_id}.jpg", dest / "images" / f"{product_id}.jpg")
    rows.drop(columns=["has_image", "rank"]).to_csv(dest / "styles.csv", index=False, lineterminator="\n")
    (dest / "NOTICE").write_text(
        NOTICE.format(
            n_images=len(picked), n_rows=len(rows), per_type=PER_TYPE, n_types=len(ARTICLE_TYPES),
            types=", ".join(ARTICLE_TYPES), n_missing=len(missing),
        )
    )
    total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    if total > MAX_BYTES:
        raise SystemExit(f"sample catalog is {total} bytes, over the {MAX_BYTES} byte budget")
    print(f"wrote {len(picked)} images, {len(rows)} rows, {total / 1e6:.2f} MB to {dest}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="the 40k catalog folder (styles.csv + images/)")
    build(parser.parse_args().source)
