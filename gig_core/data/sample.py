"""The sample catalog shipped inside the package, like scikit-learn's bundled datasets."""

from __future__ import annotations

import shutil
from pathlib import Path

SAMPLE_CATALOG = Path(__file__).resolve().parent / "sample_catalog"


def sample_catalog_path() -> Path:
    """Folder holding styles.csv, images/ and NOTICE of the bundled sample catalog."""
    return SAMPLE_CATALOG


def materialize_sample_catalog(dest: str | Path) -> bool:
    """Copy the bundled catalog to `dest` unless something is already there; True if copied.

    An existing folder is left alone: it may be the user's own catalog, versioned by DVC.
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        return False
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(SAMPLE_CATALOG, tmp)
    if dest.exists():
        dest.rmdir()
    tmp.rename(dest)
    return True
