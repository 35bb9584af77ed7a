"""What does the memorization metric call a copy? Each image under the copy threshold beside its nearest one.

`memorized_share` counts samples whose nearest training image (in the evaluation's feature space)
is closer than `memorization_ratio` x the median held-out-to-training distance *and* closer than
`memorization_isolation` x the mean distance to its `memorization_neighbours` nearest training
images (Carlini et al. 2023's calibrated distance: near one photo, not in a crowd of alike ones);
blank samples (one colour) are never copies; they are counted apart.
This writes two sheets for a trained generator, each pair = (image, its nearest training photo),
copies first, then the images under the threshold alone, closest first within each: the
generator's samples, and the held-out *real* photos (the catalog's own near-duplicates), so a
reader can judge both halves of the rule: are the copies handed-back catalog photos, and are the
rest just plain products the catalog holds many of?

    .venv/bin/python benchmarks/copies_look.py --generator /tmp/gig_quality/gig/generator.pt \
        --data /tmp/gig_quality/pre --cache /tmp/gig_quality/cache --out /tmp/copies_sheets/copies.png

The sheets hold catalog photos: keep them out of the repository.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torchvision.utils import save_image

from gig_core.config import EvaluateConfig
from gig_core.evaluation.evaluate import ReferenceSet
from gig_core.evaluation.metrics.blank import blank_mask
from gig_core.evaluation.metrics.memorization import copies, nearest_k
from gig_core.evaluation.sources import SampleSource, load_generator_file


def pair_sheet(images: torch.Tensor, train_images: torch.Tensor, index: torch.Tensor, out: Path, pairs: int) -> None:
    """Up to `pairs` (image, nearest training photo) pairs, 8 pairs a row."""
    order = index[:pairs]
    tiles = torch.stack([t for i, j in order.tolist() for t in (images[i], train_images[j])])  # (2P, 3, R, R)
    save_image(tiles.float() / 255, out, nrow=16, padding=2, pad_value=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", required=True, help="a generator.pt")
    parser.add_argument("--data", required=True, help="the preprocess output it is scored on")
    parser.add_argument("--cache", required=True, help="evaluation cache (extractor, features)")
    parser.add_argument("--out", required=True, help="PNG for the samples; the real photos' sheet gets _real")
    parser.add_argument("--pairs", type=int, default=48)
    args = parser.parse_args()
    reference = ReferenceSet(EvaluateConfig(data_dir=args.data, cache_dir=args.cache, out_dir="/tmp/copies_look",
                                            metrics=["memorization"]), progress=False)
    evaluation = reference.score(SampleSource("model", bundle=load_generator_file(args.generator)))
    inputs, values = evaluation.inputs, evaluation.result.values
    config = reference.config
    threshold = values["memorization_threshold"]
    train_images = reference.train_split().images
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, images, features, path in (("samples", inputs.fake_images, inputs.fake, out),
                                         ("held-out real photos", reference.images, reference.features,
                                          out.with_name(out.stem + "_real.png"))):
        dists, nn = nearest_k(features, inputs.train, config.memorization_neighbours)  # (M, k)
        blank = blank_mask(images, config.min_pixel_range)  # (M,)
        near = ((dists[:, 0] < threshold) & ~blank).nonzero().squeeze(1)
        is_copy = copies(dists[near], threshold, config.memorization_isolation)
        shown = torch.cat([near[is_copy][dists[near[is_copy], 0].argsort()],
                           near[~is_copy][dists[near[~is_copy], 0].argsort()]])
        print(f"{name}: {int(blank.sum())} of {len(images)} blank (one colour, never copies); {len(near)} others under "
              f"the copy threshold {threshold:.3f}, {int(is_copy.sum())} "
              f"of them copies (also closer than {config.memorization_isolation}x the mean distance to their "
              f"{config.memorization_neighbours} nearest training photos); sheet {path}")
        if len(shown):
            pair_sheet(images, train_images, torch.stack([shown, nn[shown, 0]], 1), path, args.pairs)


if __name__ == "__main__":
    main()
