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

It also prints what a pixel check would confirm of the copies (a candidate rule, not the metric's):
a pair is confirmed when its RMS difference over the pixels where either image shows a product
(not white), the mirror image allowed, is within what a training photo keeps from a re-worked
copy of itself: the 99th percentile over `--calibration` photos, re-encoded as JPEG (quality 75)
and slightly blurred, and the same again with a one-pixel shift (two tolerances, since where a
copy ends depends on which of these a copy may have gone through).

    .venv/bin/python benchmarks/copies_look.py --generator /tmp/gig_quality/gig/generator.pt \
        --data /tmp/gig_quality/pre --cache /tmp/gig_quality/cache --out /tmp/copies_sheets/copies.png

The sheets hold catalog photos: keep them out of the repository.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms.functional import gaussian_blur, pil_to_tensor
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


def product_rms(a: torch.Tensor, b: torch.Tensor, background: int = 235) -> torch.Tensor:
    """(N, 3, R, R) uint8 pairs -> (N,) RMS difference in [0, 1] over the pixels where either shows a product."""
    shows = (a < background).any(1) | (b < background).any(1)  # (N, R, R): not the white background
    squared = ((a.float() - b.float()) / 255).pow(2).mean(1)  # (N, R, R)
    return ((squared * shows).sum((1, 2)) / shows.sum((1, 2)).clamp(min=1)).sqrt()


def pair_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """product_rms against b or its mirror image, whichever is closer: (N,)."""
    return torch.minimum(product_rms(a, b), product_rms(a, b.flip(-1)))


def reworked(images: torch.Tensor, seed: int, shift: bool) -> torch.Tensor:
    """(N, 3, R, R) uint8 -> each re-encoded as JPEG (quality 75), shifted up to a pixel on white, slightly blurred."""
    rng = torch.Generator().manual_seed(seed)
    out = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=75)
        jpeg = pil_to_tensor(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))  # (3, R, R)
        dy, dx = (int(v) for v in torch.randint(-1, 2, (2,), generator=rng)) if shift else (0, 0)
        shifted = torch.full_like(jpeg, 255)
        r = jpeg.shape[-1]
        shifted[:, max(dy, 0):r + min(dy, 0), max(dx, 0):r + min(dx, 0)] = \
            jpeg[:, max(-dy, 0):r + min(-dy, 0), max(-dx, 0):r + min(-dx, 0)]
        out.append(gaussian_blur(shifted.float(), kernel_size=3, sigma=0.6).round().to(torch.uint8))
    return torch.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", required=True, help="a generator.pt")
    parser.add_argument("--data", required=True, help="the preprocess output it is scored on")
    parser.add_argument("--cache", required=True, help="evaluation cache (extractor, features)")
    parser.add_argument("--out", required=True, help="PNG for the samples; the real photos' sheet gets _real")
    parser.add_argument("--pairs", type=int, default=48)
    parser.add_argument("--calibration", type=int, default=512, help="training photos behind the pixel tolerance")
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
    picked = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(0))[:args.calibration]
    originals = train_images[picked]
    tolerances = {shift: float(pair_distance(reworked(originals, 0, shift), originals).quantile(0.99))
                  for shift in (False, True)}
    print(f"pixel tolerances, the 99th percentile of {len(picked)} training photos against their own copies: "
          f"re-encoded and blurred {tolerances[False]:.3f}, also shifted a pixel {tolerances[True]:.3f}")
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
        copied = near[is_copy]
        if len(copied):
            distances = pair_distance(images[copied], train_images[nn[copied, 0]])  # (C,)
            quantiles = distances.quantile(torch.tensor([0.0, 0.25, 0.5, 0.75, 0.9, 1.0]))
            print(f"  pixel check: {int((distances <= tolerances[False]).sum())} / "
                  f"{int((distances <= tolerances[True]).sum())} of {len(copied)} copies confirmed; their "
                  f"distances (min, quartiles, 90th percentile, max) {' '.join(f'{d:.3f}' for d in quantiles)}")
        if len(shown):
            pair_sheet(images, train_images, torch.stack([shown, nn[shown, 0]], 1), path, args.pairs)


if __name__ == "__main__":
    main()
