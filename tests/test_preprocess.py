import json

import numpy as np
import pandas as pd
import torch
from PIL import Image

from gig_core.config import AugmentConfig
from gig_core.data.augment import augment_batch, build_augment
from gig_core.data.pixels import to_rgb
from gig_core.data.preprocess import holdout_mask, load_split, load_vocab, square_resize


def test_square_resize_never_crops_and_fills_white():
    tall = torch.zeros(3, 80, 60, dtype=torch.uint8)
    tall[0] = 200  # a tall red product photo
    square = square_resize([tall], 80)[0]  # (3, 80, 80)
    assert (square[:, :, 10:70] == torch.tensor([200, 0, 0])[:, None, None]).all()  # all of the product is there
    assert (square[:, :, :10] == 255).all() and (square[:, :, 70:] == 255).all()  # white bars, not a crop
    assert square_resize([tall, tall.clone()], 32).shape == (2, 3, 32, 32)


def test_transparent_pixels_become_white():
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert (np.asarray(to_rgb(image)) == 255).all()


def test_split_goes_by_content_hash_so_twins_stay_together():
    hashes = pd.Series([f"{i:064x}" for i in range(400)] * 2)  # every photo twice, as twin listings
    mask = holdout_mask(hashes, 0.2, "salt")
    assert (mask[:400] == mask[400:]).all()
    assert 0.1 < mask.mean() < 0.3


def test_preprocess_outputs(tiny_run):
    out = tiny_run.preprocess.out_dir
    train, heldout = load_split(out, "train"), load_split(out, "heldout")
    vocab = load_vocab(out)
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (3, 32, 32)
    assert len(train) + len(heldout) == 3 * 32 and len(heldout) > 5
    assert set(train.ids).isdisjoint(heldout.ids)
    assert vocab["articleType"] == ["Heels", "Tshirts", "Watches"]
    assert int(train.labels["baseColour"].max()) < len(vocab["baseColour"])
    catalog = pd.read_parquet(f"{tiny_run.ingest.out_dir}/catalog.parquet").set_index("id")
    split_of_hash: dict[str, set[str]] = {}
    for split in (train, heldout):
        for product_id in split.ids:
            split_of_hash.setdefault(catalog.loc[product_id, "sha256"], set()).add(id(split))
    assert all(len(sides) == 1 for sides in split_of_hash.values())
    summary = json.loads(open(f"{out}/preprocess.json").read())
    assert summary["train_images"] == len(train) and len(summary["fingerprint"]) == 64


def test_augment_draws_per_image_and_keeps_dtype():
    torch.manual_seed(0)
    batch = torch.zeros(64, 3, 8, 8, dtype=torch.uint8)
    batch[:, :, :, :4] = 255  # left half white
    flipped = augment_batch(batch, build_augment(AugmentConfig(hflip=True)))
    assert ((flipped == batch).flatten(1).all(1) | (flipped == batch.flip(-1)).flatten(1).all(1)).all()
    assert flipped.dtype == torch.uint8 and flipped.shape == batch.shape
    changed = (flipped != batch).flatten(1).any(1)
    assert 0 < changed.sum() < 64  # some images flipped, some not
    assert build_augment(AugmentConfig(hflip=False)) is None
    full = build_augment(AugmentConfig(rotation_degrees=10, scale_jitter=0.1, brightness=0.2, contrast=0.2))
    assert augment_batch(batch, full).shape == batch.shape


def test_worker_processes_give_the_same_pixels_as_one(tiny_run):
    from gig_core.data.ingest import read_catalog
    from gig_core.data.preprocess import square_images

    catalog = read_catalog(tiny_run.ingest.out_dir)
    one = square_images(tiny_run.ingest.out_dir, catalog, 32, workers=1, progress=False, chunk=16)
    two = square_images(tiny_run.ingest.out_dir, catalog, 32, workers=2, progress=False, chunk=16)
    assert one.shape == (len(catalog), 3, 32, 32) and torch.equal(one, two)
    assert one.float().std() > 10  # real pixels, not an untouched buffer
