"""The catalog's title encoder: hashed words and subwords, fitted on training titles, cached."""

from __future__ import annotations

from pathlib import Path

import torch

from gig_core.data.preprocess import load_split, load_vocab
from gig_core.text.cache import cached_title_encoder
from gig_core.text.encoder import TitleEncoderSpec, title_features


def test_title_features_are_stable_and_share_subwords():
    spec = TitleEncoderSpec(buckets=1 << 12)
    assert title_features("Men Navy Blue Shirt", spec) == title_features("men  navy-blue SHIRT", spec)
    shirt, shirts = set(title_features("shirt", spec)), set(title_features("shirts", spec))
    assert len(shirt & shirts) >= 4  # the word differs, most trigrams do not
    assert title_features("", spec) == [] and title_features("!!", spec) == []


def test_encoder_fitted_on_training_titles_places_held_out_and_new_titles(tiny_run, tmp_path):
    data_dir = tiny_run.preprocess.out_dir
    train, heldout = load_split(data_dir, "train"), load_split(data_dir, "heldout")
    assert len(train.titles) == len(train) and all(train.titles)
    encoder = cached_title_encoder(data_dir, tmp_path / "cache")
    cached = list((tmp_path / "cache" / "text").glob("*.pt"))
    assert len(cached) == 1

    types = load_vocab(data_dir)["articleType"]
    train_vectors = encoder.encode(train.titles)  # (N, 64)
    centroids = torch.stack([train_vectors[train.labels["articleType"] == k].mean(0) for k in range(len(types))])

    def article_type(titles: list[str]) -> list[str]:
        return [types[int(i)] for i in (encoder.encode(titles) @ centroids.T).argmax(1)]

    truth = [types[int(i)] for i in heldout.labels["articleType"]]
    right = sum(p == t for p, t in zip(article_type(heldout.titles), truth))
    assert right / len(truth) >= 0.9, (right, len(truth))
    # new wording and new combinations, never in the catalog
    assert article_type(["Women Pink Sports Watch", "Mens Red Cotton Tee", "Women Silver Party Heels"]) == \
        ["Watches", "Tshirts", "Heels"]

    again = cached_title_encoder(data_dir, tmp_path / "cache")  # read back, not refitted
    assert list((tmp_path / "cache" / "text").glob("*.pt")) == cached
    assert torch.equal(again.encode(heldout.titles), encoder.encode(heldout.titles))
    assert Path(cached[0]).stat().st_size < 10_000_000
