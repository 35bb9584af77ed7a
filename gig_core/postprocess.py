"""Post-processing: a generated square turned into a display-ready product photo.

The generator works on white squares at 32 or 64 px (preprocess pads the catalog's portrait
photos onto them). A shop shows portrait photos a few hundred pixels high on clean white, so
each image is, in order: lightly denoised (optional), its near-white background snapped to the
catalog's white, cropped tight to the product plus a margin, padded back to the catalog's
aspect ratio and resized to the display size with a Lanczos filter. `gig generate`, the served
model, the gallery and the report all go through `postprocess_image`.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageFilter
from torchvision.transforms.v2 import functional as TF

from gig_core.config import PostprocessConfig

# Images as a shop shows them, for the real-vs-generated detector (evaluation/c2st.py) and the realism score:
# on a white portrait canvas of the catalog's 3:4, 128 px high. That is a listing thumbnail, above the catalog's
# own 60x80 photos and every generator resolution up to 64, so upsampling blur, smears and checkerboards are
# there to see, and small enough for the detector to train in seconds on 2 CPU cores.
DISPLAY_SIZE = (96, 128)  # (width, height)


def display_shape(config: PostprocessConfig, size: int | None = None) -> tuple[int, int]:
    """(width, height) of a post-processed image: the long side is `size` (config.size by default)."""
    width, height = config.aspect
    long_side = size or config.size
    if height >= width:
        return max(1, round(long_side * width / height)), long_side
    return long_side, max(1, round(long_side * height / width))


def product_box(foreground: torch.Tensor, min_pixels: int) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of the rows and columns holding at least `min_pixels` foreground
    pixels (so a stray dark speck in the background does not widen the crop), or None when empty."""
    rows = torch.nonzero(foreground.sum(1) >= min_pixels).flatten()
    columns = torch.nonzero(foreground.sum(0) >= min_pixels).flatten()
    if not len(rows) or not len(columns):
        return None
    return int(rows[0]), int(columns[0]), int(rows[-1]) + 1, int(columns[-1]) + 1


def postprocess_image(image: torch.Tensor, config: PostprocessConfig, size: int | None = None) -> Image.Image:
    """(3, R, R) uint8 -> an RGB PIL image of display_shape(config, size)."""
    assert image.dtype == torch.uint8 and image.ndim == 3 and image.shape[0] == 3, image.shape
    picture = Image.fromarray(image.permute(1, 2, 0).numpy())
    if config.denoise:
        picture = picture.filter(ImageFilter.MedianFilter(3))
    pixels = torch.from_numpy(np.asarray(picture).copy())  # (R, R, 3) uint8
    white = torch.tensor(config.background, dtype=torch.uint8)
    background = (pixels >= config.background_threshold).all(-1)  # (R, R)
    pixels[background] = white

    side = max(pixels.shape[:2])
    box = product_box(~background, max(1, round(config.min_line_fraction * side)))
    top, left, bottom, right = box or (0, 0, pixels.shape[0], pixels.shape[1])
    product = pixels[top:bottom, left:right]  # (h, w, 3)
    h, w = product.shape[:2]
    margin = round(config.margin * max(h, w))
    aspect_w, aspect_h = config.aspect
    # the smallest canvas of the target aspect ratio holding the product and its margin
    canvas_h = max(h + 2 * margin, -(-(w + 2 * margin) * aspect_h // aspect_w))
    canvas_w = max(w + 2 * margin, -(-canvas_h * aspect_w // aspect_h))
    canvas = white.expand(canvas_h, canvas_w, 3).clone()
    y, x = (canvas_h - h) // 2, (canvas_w - w) // 2
    canvas[y:y + h, x:x + w] = product
    return Image.fromarray(canvas.numpy()).resize(display_shape(config, size), Image.Resampling.LANCZOS)


def postprocess_batch(images: torch.Tensor, config: PostprocessConfig, size: int | None = None) -> list[Image.Image]:
    """(B, 3, R, R) uint8 -> B display-ready PIL images."""
    return [postprocess_image(image, config, size) for image in images]


def display_canvas(images: list[torch.Tensor] | torch.Tensor, size: tuple[int, int] = DISPLAY_SIZE) -> torch.Tensor:
    """(3, h, w) uint8 images of any shape -> (N, 3, H, W) uint8 at size=(W, H): each scaled to fit, centred
    on white. The same for real photos and for generated squares."""
    width, height = size
    out = torch.full((len(images), 3, height, width), 255, dtype=torch.uint8)
    for i, image in enumerate(images):
        h, w = image.shape[1:]
        scale = min(width / w, height / h)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        fitted = TF.resize(image, [new_h, new_w], antialias=True)  # (3, new_h, new_w)
        top, left = (height - new_h) // 2, (width - new_w) // 2
        out[i, :, top:top + new_h, left:left + new_w] = fitted
    return out


def as_shown(images: torch.Tensor, config: PostprocessConfig) -> torch.Tensor:
    """(N, 3, h, w) uint8 real photos or samples -> (N, 3, H, W) uint8 at DISPLAY_SIZE as a shop shows them:
    post-processed (background snapped, cropped to the product, the display's aspect), on the detector's canvas."""
    pictures = postprocess_batch(images, config, max(DISPLAY_SIZE))
    return display_canvas([torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in pictures])
