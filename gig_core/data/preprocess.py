"""Preprocessing: photos -> square uint8 tensors, label vocabularies and a held-out split.

Product photos are padded onto a white square (never cropped: a cut-off shoe is a different
product) and resized once, so training reads a single tensor file instead of decoding JPEGs.
The held-out split goes by image content hash, so identical photos always land on the same side.

Speed: plain baseline JPEGs (the bulk of any catalog) are decoded in batches by torchvision
(libjpeg-turbo) and padded and resized as whole same-shape batches; everything else (PNG,
CMYK, 16-bit, alpha, EXIF-rotated, very large) goes through PIL first. Chunks of images are
spread over worker processes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_jpeg
from torchvision.transforms.v2 import functional as TF
from tqdm import tqdm

from gig_core.atomic import atomic_dir
from gig_core.config import PreprocessConfig
from gig_core.data.ingest import BLOB_DIR, read_catalog
from gig_core.data.pixels import to_rgb
from gig_core.layout import PreprocessOutputs
from gig_core.postprocess import DISPLAY_SIZE, display_canvas
from gig_core.torch_files import read_torch_file

SPLITS = ("train", "heldout")
CHUNK = 256


def square_resize(images: list[torch.Tensor], resolution: int) -> torch.Tensor:
    """(3, h, w) uint8 images -> (N, 3, R, R) uint8, each centred on a white square, then resized.

    Same-shape images are padded and resized together as one batch.
    """
    out = torch.empty(len(images), resolution, resolution, 3, dtype=torch.uint8).permute(0, 3, 1, 2)  # channels_last
    groups: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(tuple(image.shape[1:]), []).append(i)
    for (h, w), index in groups.items():
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        # Built as (n, S, S, 3) so the (n, 3, S, S) view is channels_last: torchvision's fast
        # uint8 antialiased resize path, with no layout conversion.
        canvas = torch.empty((len(index), side, side, 3), dtype=torch.uint8)
        canvas[:, :top], canvas[:, top + h:], canvas[:, :, :left], canvas[:, :, left + w:] = 255, 255, 255, 255
        for slot, i in enumerate(index):
            canvas[slot, top:top + h, left:left + w] = images[i].permute(1, 2, 0)
        square = canvas.permute(0, 3, 1, 2)  # (n, 3, S, S)
        if side != resolution:
            square = TF.resize(square, [resolution, resolution], antialias=True)
        out[index] = square
    return out


def display_photos(ingest_dir: str | Path, sha256s: list[str]) -> torch.Tensor:
    """(N, 3, H, W) uint8: the original photos (ingest's blobs), each on a DISPLAY_SIZE white canvas."""
    blobs = Path(ingest_dir) / BLOB_DIR
    return display_canvas([_decode_pil((blobs / sha).read_bytes(), max(DISPLAY_SIZE)) for sha in sha256s])


def load_display_heldout(data_dir: str | Path) -> torch.Tensor:
    """(N, 3, H, W) uint8 held-out photos at DISPLAY_SIZE, in the held-out split's order."""
    path = PreprocessOutputs(data_dir).heldout_display
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no held-out photos at display size, which the real-vs-generated detector "
                                f"(evaluate.metrics: c2st) needs; rerun gig preprocess (or dvc repro preprocess)")
    return read_torch_file(path, "display-size held-out photos", "rerun gig preprocess")


def _decode_pil(data: bytes, resolution: int) -> torch.Tensor:
    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG":
            image.draft("RGB", (resolution * 2, resolution * 2))  # let libjpeg downscale huge photos
        rgb = to_rgb(image)
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)  # (3, h, w) uint8


@dataclass(frozen=True)
class ChunkTask:
    ingest_dir: str
    rows: list[tuple[str, str, str, int, int, int]]  # (sha256, format, mode, orientation, width, height)
    resolution: int
    start: int  # index of the first row in the output tensor


def process_chunk(task: ChunkTask) -> torch.Tensor:
    """(n, 3, R, R) uint8 for one chunk of catalog rows, in order."""
    blobs = os.path.join(task.ingest_dir, BLOB_DIR)
    datas = []
    for sha, *_ in task.rows:
        with open(os.path.join(blobs, sha), "rb") as handle:
            datas.append(handle.read())
    fast = [fmt == "JPEG" and mode in ("RGB", "L") and orientation == 1 and max(w, h) <= 4 * task.resolution
            for _, fmt, mode, orientation, w, h in task.rows]
    images: list[torch.Tensor | None] = [None] * len(datas)
    fast_index = [i for i, ok in enumerate(fast) if ok]
    if fast_index:
        decoded = decode_jpeg([torch.frombuffer(bytearray(datas[i]), dtype=torch.uint8) for i in fast_index],
                              mode=ImageReadMode.RGB)
        for i, image in zip(fast_index, decoded):
            images[i] = image
    for i, ok in enumerate(fast):
        if not ok:
            images[i] = _decode_pil(datas[i], task.resolution)
    return square_resize(images, task.resolution)


_SHARED_OUT: torch.Tensor | None = None  # a worker's view of the shared output tensor


def _init_worker(out: torch.Tensor) -> None:
    global _SHARED_OUT
    torch.set_num_threads(1)
    _SHARED_OUT = out


def _fill_chunk(task: ChunkTask) -> int:
    """Write one chunk straight into shared memory, so only a count travels back to the parent."""
    images = process_chunk(task)
    _SHARED_OUT[task.start:task.start + len(images)] = images
    return len(images)


def square_images(ingest_dir: str | Path, catalog: pd.DataFrame, resolution: int, workers: int,
                  progress: bool = True, chunk: int = CHUNK) -> torch.Tensor:
    """(N, 3, R, R) uint8 for every catalog row, in order, decoded in chunks over `workers` processes."""
    columns = ["sha256", "format", "mode", "orientation", "width", "height"]
    facts = list(catalog[columns].itertuples(index=False, name=None))
    tasks = [ChunkTask(str(ingest_dir), facts[i : i + chunk], resolution, i) for i in range(0, len(facts), chunk)]
    out = torch.empty(len(facts), resolution, resolution, 3, dtype=torch.uint8).permute(0, 3, 1, 2)  # channels_last
    with tqdm(
        total=len(facts), desc=f"preprocess: pad+resize to {resolution}px", unit="img", disable=not progress
    ) as bar:
        if workers > 1 and len(tasks) > 1:
            out.share_memory_()
            with Pool(workers, initializer=_init_worker, initargs=(out,)) as pool:
                for count in pool.imap_unordered(_fill_chunk, tasks):
                    bar.update(count)
        else:
            for task in tasks:
                out[task.start : task.start + len(task.rows)] = process_chunk(task)
                bar.update(len(task.rows))
    return out


def holdout_mask(content_hashes: pd.Series, fraction: float, salt: str) -> np.ndarray:
    """True for held-out rows; a pure function of (photo bytes hash, salt), so twins agree."""

    def unit(content_hash: str) -> float:
        digest = hashlib.sha256(f"{salt}:{content_hash}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    return np.array([unit(h) < fraction for h in content_hashes], dtype=bool)


@dataclass
class TensorSplit:
    """One split of the preprocessed catalog, as stored on disk."""

    images: torch.Tensor  # (N, 3, R, R) uint8
    labels: dict[str, torch.Tensor]  # attribute -> (N,) int64 index into the vocabulary
    ids: list[str]
    titles: list[str] = field(default_factory=list)  # the product names (ingest.name_column), "" when none

    def __len__(self) -> int:
        return self.images.shape[0]

    def save(self, path: Path) -> None:
        torch.save({"images": self.images, "labels": self.labels, "ids": self.ids, "titles": self.titles}, path)

    @classmethod
    def load(cls, path: Path) -> "TensorSplit":
        data = read_torch_file(path, "preprocessed split", "rerun gig preprocess (or dvc repro preprocess)")
        ids = list(data["ids"])
        titles = list(data.get("titles", [""] * len(ids)))  # splits written before titles were kept
        return cls(images=data["images"], labels=data["labels"], ids=ids, titles=titles)


def load_split(data_dir: str | Path, split: str) -> TensorSplit:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    return TensorSplit.load(Path(data_dir) / f"{split}.pt")


def load_vocab(data_dir: str | Path) -> dict[str, list[str]]:
    return json.loads(PreprocessOutputs(data_dir).vocab.read_text())


def load_summary(data_dir: str | Path) -> dict:
    return json.loads(PreprocessOutputs(data_dir).summary.read_text())


def preprocess_catalog(config: PreprocessConfig, progress: bool = True) -> dict:
    """Decode, pad and resize every accepted photo, then write the splits atomically."""
    if config.resolution not in (32, 64, 128):
        raise ValueError(f"preprocess.resolution must be 32, 64 or 128, got {config.resolution}")
    if not 0.0 < config.holdout_fraction < 1.0:
        raise ValueError(f"preprocess.holdout_fraction must be in (0, 1), got {config.holdout_fraction}")
    catalog = read_catalog(config.ingest_dir)
    if catalog.empty:
        raise ValueError(f"{config.ingest_dir}: the ingested catalog has no accepted rows")
    missing = [a for a in config.label_attributes if a not in catalog.columns]
    if missing:
        raise ValueError(f"label attribute(s) {missing} not in the catalog; columns are {list(catalog.columns)}")

    images = square_images(config.ingest_dir, catalog, config.resolution, config.workers, progress)  # (N, 3, R, R)

    vocab = {a: sorted(catalog[a].unique().tolist()) for a in config.label_attributes}
    labels = {
        a: torch.tensor(catalog[a].map({v: i for i, v in enumerate(vocab[a])}).to_numpy(), dtype=torch.int64)
        for a in config.label_attributes
    }
    heldout = holdout_mask(catalog["sha256"], config.holdout_fraction, config.split_salt)
    ids = catalog["id"].tolist()
    titles = catalog["name"].fillna("").astype(str).tolist()

    summary: dict = {"resolution": config.resolution, "label_attributes": list(config.label_attributes)}
    with atomic_dir(config.out_dir) as out:
        for split, mask in (("train", ~heldout), ("heldout", heldout)):
            index = torch.from_numpy(np.flatnonzero(mask))
            TensorSplit(
                images=images[index].contiguous(),
                labels={a: t[index] for a, t in labels.items()},
                ids=[ids[i] for i in index.tolist()],
                titles=[titles[i] for i in index.tolist()],
            ).save(out / f"{split}.pt")
            summary[f"{split}_images"] = int(mask.sum())
        shas = catalog["sha256"].tolist()
        torch.save(display_photos(config.ingest_dir, [shas[i] for i in np.flatnonzero(heldout)]),
                   PreprocessOutputs(out).heldout_display)
        fingerprint = hashlib.sha256()
        for content_hash, is_heldout in sorted(zip(catalog["sha256"], heldout)):
            fingerprint.update(f"{content_hash}:{int(is_heldout)}\n".encode())
        fingerprint.update(json.dumps([config.resolution, vocab], sort_keys=True).encode())
        summary["fingerprint"] = fingerprint.hexdigest()
        # which titles: a text encoder fitted on them is cached under this (gig_core/text/)
        summary["titles_sha256"] = hashlib.sha256("\n".join(f"{h}:{t}" for h, t in sorted(
            zip(catalog["sha256"], titles))).encode()).hexdigest()
        summary["class_counts"] = {a: catalog[a].value_counts().sort_index().to_dict() for a in config.label_attributes}
        PreprocessOutputs(out).vocab.write_text(json.dumps(vocab, indent=2) + "\n")
        PreprocessOutputs(out).summary.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
