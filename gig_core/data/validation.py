"""Image validation: decide from a file's bytes whether it can be trained on, and why not.

Every failure is a reason string, never an exception, so one bad photo cannot stop an
ingest. Size limits are checked on the header, before any pixel is decoded, which is what
keeps a decompression bomb from exhausting memory. A decoded photo whose pixels are all one
colour (a placeholder, a failed shot: the 40k catalog has one pure white frame) is refused too:
it shows no product, and a generator trained on it learns to hand back blank frames.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from gig_core.data.pixels import pixel_range

EXIF_ORIENTATION = 0x0112
SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees


@dataclass(frozen=True)
class ImageLimits:
    min_side: int = 32
    max_pixels: int = 40_000_000
    min_pixel_range: int = 16  # levels between darkest and lightest pixel; below: blank


@dataclass(frozen=True)
class ImageCheck:
    """What reading one photo found: its facts, or the reason it is refused."""

    sha256: str = ""
    width: int = 0  # after EXIF orientation
    height: int = 0
    format: str = ""
    mode: str = ""
    orientation: int = 1
    reason: str = ""


def check_image_bytes(data: bytes, limits: ImageLimits) -> ImageCheck:
    if not data:
        return ImageCheck(reason="empty file (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))  # reads the header only
        except UnidentifiedImageError:
            return ImageCheck(reason="not an image (unrecognised file format)")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            return ImageCheck(reason=f"decompression bomb refused before decoding: {exc}")
        except (OSError, SyntaxError, ValueError) as exc:
            kind = "truncated image" if "truncat" in str(exc).lower() else "corrupt image header"
            return ImageCheck(reason=f"{kind}: {exc}")
    with image:
        width, height = image.size
        if width * height > limits.max_pixels:
            return ImageCheck(reason=f"decompression bomb refused before decoding: {width}x{height} is over "
                                     f"max_pixels={limits.max_pixels}")
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            return ImageCheck(reason=f"animated image ({frames} frames)")
        fmt, mode = image.format or "", image.mode
        try:
            image.load()  # full decode: truncated and corrupt data only show here
            orientation = int(image.getexif().get(EXIF_ORIENTATION, 1) or 1)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            kind = "truncated image" if "truncat" in str(exc).lower() else "corrupt image data"
            return ImageCheck(reason=f"{kind}: {exc}")
        if orientation in SWAPS_SIDES:
            width, height = height, width
        if min(width, height) < limits.min_side:
            return ImageCheck(reason=f"image too small: {width}x{height}, minimum side is {limits.min_side}")
        spread = pixel_range(image)
        if spread < limits.min_pixel_range:
            return ImageCheck(reason=f"blank image: every pixel within {spread} levels of one colour, shows no "
                                     f"product (min_pixel_range is {limits.min_pixel_range})")
    return ImageCheck(sha256=hashlib.sha256(data).hexdigest(), width=width, height=height,
                      format=fmt, mode=mode, orientation=orientation)
