"""The title encoder of a catalog version, fitted once and cached like the reference features."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from gig_core.atomic import atomic_file
from gig_core.data.preprocess import load_split, load_summary, load_vocab
from gig_core.text.encoder import TitleEncoder, TitleEncoderSpec, fit_title_encoder, load_state, save_state


def cached_title_encoder(data_dir: str | Path, cache_dir: str | Path,
                         spec: TitleEncoderSpec = TitleEncoderSpec()) -> TitleEncoder:
    """The encoder fitted on `data_dir`'s training titles (never the held-out ones), from the cache
    under cache_dir/text/ when these titles and settings were seen before."""
    summary = load_summary(data_dir)
    if "titles_sha256" not in summary:
        raise ValueError(f"{data_dir} was preprocessed before titles were kept; rerun gig preprocess")
    settings = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
    path = Path(cache_dir) / "text" / f"{summary['titles_sha256'][:20]}-{settings}.pt"
    if path.is_file():
        return load_state(torch.load(path, map_location="cpu", weights_only=True))
    train = load_split(data_dir, "train")
    if not any(train.titles):
        raise ValueError(f"{data_dir}: the catalog has no product titles (ingest.name_column) to encode")
    vocab = load_vocab(data_dir)
    encoder = fit_title_encoder(train.titles, train.labels, {a: len(v) for a, v in vocab.items()}, spec)
    with atomic_file(path) as handle:
        torch.save(save_state(encoder), handle)
    return encoder
