"""Preprocessing: photos -> square uint8 tensors, label vocabularies and a held-out split.

Product photos are padded onto a white square (never cropped: a cut-off shoe is a different
product) and resized once, so training reads a single tensor file instead of decoding JPEGs.
The held-out split goes by image content hash, so the catalog's twin listings (same photo,
different ids) always land on the same side.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from gig_core.atomic import atomic_dir
from gig_core.config import PreprocessConfig
from gig_core.data.ingest import read_catalog

SPLITS = ("train", "heldout")
VOCAB_FILE = "vocab.json"
SUMMARY_FILE = "preprocess.json"
WHITE = (255, 255, 255)


def pad_to_square(image: Image.Image) -> Image.Image:
    """RGB image centred on a white square canvas; alpha is composited on white first."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, WHITE + (255,))
        image = Image.alpha_composite(canvas, rgba)
    image = image.convert("RGB")
    side = max(image.size)
    square = Image.new("RGB", (side, side), WHITE)
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return square


def load_square(path: Path, resolution: int) -> np.ndarray:
    """(R, R, 3) uint8 array of the padded, resized photo."""
    with Image.open(path) as image:
        square = pad_to_square(image)
    return np.asarray(square.resize((resolution, resolution), Image.Resampling.LANCZOS), dtype=np.uint8)


def _load_task(task: tuple[Path, int]) -> np.ndarray:
    return load_square(*task)


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

    def __len__(self) -> int:
        return self.images.shape[0]

    def save(self, path: Path) -> None:
        torch.save({"images": self.images, "labels": self.labels, "ids": self.ids}, path)

    @classmethod
    def load(cls, path: Path) -> "TensorSplit":
        data = torch.load(path, weights_only=True)
        return cls(images=data["images"], labels=data["labels"], ids=list(data["ids"]))


def load_split(data_dir: str | Path, split: str) -> TensorSplit:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    return TensorSplit.load(Path(data_dir) / f"{split}.pt")


def load_vocab(data_dir: str | Path) -> dict[str, list[str]]:
    return json.loads((Path(data_dir) / VOCAB_FILE).read_text())


def load_summary(data_dir: str | Path) -> dict:
    return json.loads((Path(data_dir) / SUMMARY_FILE).read_text())


def preprocess_catalog(config: PreprocessConfig, progress: bool = True) -> dict:
    """Decode, pad and resize every accepted photo, then write the splits atomically."""
    if config.resolution not in (32, 64, 128):
        raise ValueError(f"preprocess.resolution must be 32, 64 or 128, got {config.resolution}")
    if not 0.0 < config.holdout_fraction < 1.0:
        raise ValueError(f"preprocess.holdout_fraction must be in (0, 1), got {config.holdout_fraction}")
    catalog, root = read_catalog(config.ingest_dir)
    if catalog.empty:
        raise ValueError(f"{config.ingest_dir}: the ingested catalog has no accepted rows")
    missing = [a for a in config.label_attributes if a not in catalog.columns]
    if missing:
        raise ValueError(f"label attribute(s) {missing} not in the catalog; columns are {list(catalog.columns)}")

    tasks = [(root / rel, config.resolution) for rel in catalog["image"]]
    with Pool(max(1, config.workers)) as pool:
        arrays = list(
            tqdm(
                pool.imap(_load_task, tasks, chunksize=64),
                total=len(tasks), desc=f"preprocess: pad+resize to {config.resolution}px", unit="img",
                disable=not progress,
            )
        )
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, R, R) uint8

    vocab = {a: sorted(catalog[a].unique().tolist()) for a in config.label_attributes}
    labels = {
        a: torch.tensor(catalog[a].map({v: i for i, v in enumerate(vocab[a])}).to_numpy(), dtype=torch.int64)
        for a in config.label_attributes
    }
    heldout = holdout_mask(catalog["sha256"], config.holdout_fraction, config.split_salt)
    ids = catalog["id"].tolist()

    summary: dict = {"resolution": config.resolution, "label_attributes": list(config.label_attributes)}
    with atomic_dir(config.out_dir) as out:
        for split, mask in (("train", ~heldout), ("heldout", heldout)):
            index = torch.from_numpy(np.flatnonzero(mask))
            TensorSplit(
                images=images[index].contiguous(),
                labels={a: t[index] for a, t in labels.items()},
                ids=[ids[i] for i in index.tolist()],
            ).save(out / f"{split}.pt")
            summary[f"{split}_images"] = int(mask.sum())
        fingerprint = hashlib.sha256()
        for content_hash, is_heldout in sorted(zip(catalog["sha256"], heldout)):
            fingerprint.update(f"{content_hash}:{int(is_heldout)}\n".encode())
        fingerprint.update(json.dumps([config.resolution, vocab], sort_keys=True).encode())
        summary["fingerprint"] = fingerprint.hexdigest()
        summary["class_counts"] = {a: catalog[a].value_counts().sort_index().to_dict() for a in config.label_attributes}
        (out / VOCAB_FILE).write_text(json.dumps(vocab, indent=2) + "\n")
        (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
