"""How a catalog photo's pixels are read: upright 8-bit RGB, transparency on white.

Ingest (is the photo blank?), preprocess (the training tensors) and folder samples for
evaluation all read pixels through `to_rgb`, so each sees the photo the generator learns from.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

WHITE = (255, 255, 255)
SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def to_rgb(image: Image.Image) -> Image.Image:
    """Upright 8-bit RGB: EXIF rotation applied, 16-bit scaled down, alpha composited on white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in SIXTEEN_BIT_MODES or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if values.max(initial=0) > 255:
            values = values / 257.0  # 16-bit range -> 8-bit
        image = Image.fromarray(np.clip(values, 0, 255).round().astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE + (255,)), rgba)
    return image.convert("RGB")


def pixel_range(image: Image.Image) -> int:
    """Levels (0-255) between the darkest and lightest pixel, in the channel where they lie furthest apart."""
    return max(high - low for low, high in to_rgb(image).getextrema())
