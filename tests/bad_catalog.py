"""A manifest catalog with every kind of bad (and awkward but valid) input ingest must handle.

`build_bad_catalog` returns the catalog root and `expected`: id -> the start of its quarantine
reason, or None for rows that must be accepted (converted where needed).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from gig_core.data.sample import sample_catalog_path

GOOD_ROWS = 500


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height: a decompression bomb's shape."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b""))


def build_bad_catalog(base: Path) -> tuple[Path, dict[str, str | None], Path]:
    """(catalog root, expected outcome per id, the outside file that must never be opened)."""
    root, outside = base / "catalog", base / "outside"
    (root / "images").mkdir(parents=True)
    outside.mkdir()
    sample = sample_catalog_path()
    styles = pd.read_csv(sample / "styles.csv", dtype=str, keep_default_na=False)
    styles = styles[[(sample / "images" / f"{i}.jpg").is_file() for i in styles["id"]]].head(GOOD_ROWS)
    rows, expected, first_with = [], {}, {}
    for row in styles.to_dict("records"):
        shutil.copyfile(sample / "images" / f"{row['id']}.jpg", root / "images" / f"{row['id']}.jpg")
        rows.append({**row, "image": f"images/{row['id']}.jpg"})
        digest = hashlib.sha256((root / "images" / f"{row['id']}.jpg").read_bytes()).hexdigest()
        kept = first_with.setdefault(digest, row["id"])  # the sample has a few real twin listings
        expected[row["id"]] = None if kept == row["id"] else f"duplicate photo: same image as id {kept}"
    template = dict(rows[0])
    photo = Image.new("RGB", (60, 80), (255, 255, 255))
    photo.paste((40, 90, 200), (15, 10, 45, 70))  # a product on white: a one-colour frame is refused as blank
    secret = outside / "secret.jpg"
    secret.write_bytes(_encode(photo, "JPEG"))
    jpeg = (root / rows[0]["image"]).read_bytes()
    corrupt_png = bytearray(_encode(photo, "PNG"))
    at = corrupt_png.index(b"IDAT") + 8
    corrupt_png[at:at + 12] = bytes(b ^ 0xFF for b in corrupt_png[at:at + 12])
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    rgba = Image.new("RGBA", (60, 80), (0, 0, 0, 0))
    rgba.paste((200, 0, 0, 255), (20, 20, 40, 60))
    green = Image.new("RGB", (60, 80), (255, 255, 255))
    green.paste((0, 150, 0), (15, 10, 45, 70))
    speck = Image.new("RGB", (60, 80), (255, 255, 255))
    speck.putpixel((30, 40), (150, 150, 150))  # a tiny earring: one pixel is enough to show something
    sixteen = Image.fromarray((np.linspace(0, 65535, 60 * 80).reshape(80, 60)).astype(np.uint16))
    files: dict[str, tuple[bytes | None, str | None]] = {
        # id: (file bytes or None for no file, expected reason prefix or None = accepted)
        "910001": (b"", "empty file (0 bytes)"),
        "910002": (jpeg[: len(jpeg) * 9 // 10], "truncated image"),
        "910003": (bytes(corrupt_png), "corrupt image data"),
        "910004": (b"%PDF-1.4 this is a document, not a photo", "not an image"),
        "910005": (_png_claiming(9000, 9000), "decompression bomb refused before decoding"),
        "910006": (_encode(Image.new("RGB", (60, 80), (255, 0, 0)), "GIF", save_all=True,
                           append_images=[Image.new("RGB", (60, 80), (0, 0, 255))]), "animated image (2 frames)"),
        "910007": (_encode(Image.new("RGB", (20, 24)), "JPEG"), "image too small: 20x24"),
        "910008": (_encode(Image.new("RGB", (60, 80), (255, 255, 255)), "JPEG"), "blank image"),  # a placeholder
        "910009": (_encode(Image.new("RGBA", (60, 80), (0, 0, 0, 0)), "PNG"), "blank image"),  # all transparent
        "910017": (_encode(speck, "PNG"), None),
        "910010": (_encode(photo.convert("L"), "JPEG"), None),  # grayscale
        "910011": (_encode(photo.convert("P"), "PNG"), None),  # palette
        "910012": (_encode(photo.convert("CMYK"), "JPEG"), None),  # CMYK
        "910013": (_encode(sixteen, "PNG"), None),  # 16-bit grayscale
        "910014": (_encode(rgba, "PNG"), None),  # transparent background
        "910015": (_encode(photo.rotate(90, expand=True), "JPEG", exif=exif.tobytes()), None),  # EXIF orientation
        "910016": (_encode(green, "PNG"), None),  # a PNG named .jpg
        "910020": (jpeg, "duplicate photo: same image as id " + rows[0]["id"]),  # same bytes, other colour
        "910021": (None, "image missing"),
    }
    for product_id, (data, reason) in files.items():
        if data is not None:
            (root / "images" / f"{product_id}.jpg").write_bytes(data)
        colour = "Olive" if product_id == "910020" else template["baseColour"]
        rows.append({**template, "id": product_id, "baseColour": colour, "image": f"images/{product_id}.jpg"})
        expected[product_id] = reason
    os.symlink(secret, root / "images" / "920003.jpg")
    refused = {
        "920001": ("../outside/secret.jpg", "reference refused, not opened: path escapes the catalog root"),
        "920002": (str(secret), "reference refused, not opened: absolute path outside the catalog root"),
        "920003": ("images/920003.jpg", "reference refused, not opened: symlink points outside the catalog root"),
    }
    for product_id, (ref, reason) in refused.items():
        rows.append({**template, "id": product_id, "image": ref})
        expected[product_id] = reason
    rows.append({**template, "id": "930001", "articleType": ""})
    expected["930001"] = "missing attribute: articleType"
    rows.append({**template, "image": "images/zzz.jpg"})  # the first row's id again
    manifest = pd.DataFrame(rows)
    manifest.to_csv(root / "manifest.csv", index=False)
    with (root / "manifest.csv").open("a") as handle:
        handle.write("930002,Men,too,few,fields\n")
    return root, expected, secret
