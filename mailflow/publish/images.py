"""Photos for publication: scaled down with Pillow, turned upright, metadata stripped, JPEG at a fixed quality.

The output is a function of the photo's bytes and the variant alone (no timestamps, no EXIF: a
phone's GPS position never reaches the website), so a rebuild makes identical bytes and the
variant's name in the file's key says when the recipe changed. Large JPEGs are decoded at a
reduced scale (libjpeg's draft mode, which `thumbnail` uses) before the high-quality resampling:
a 4000×3000 phone photo becomes a 400 px thumbnail without decoding twelve million pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

_ORIENTATION = 0x0112  # EXIF: the camera was turned; 5-8 swap width and height
VERSION = "1"  # bump when the recipe below changes: every derived photo is made again


@dataclass(frozen=True)
class Variant:
    """A size photos are published in: at most `width` pixels wide (never enlarged)."""

    name: str
    width: int
    quality: int

    def key(self, sha256: str) -> str:
        return f"{sha256}:{self.name}:{self.width}:{self.quality}:{VERSION}"

    def size(self, width: int, height: int) -> tuple[int, int]:
        """The published size of a width×height photo (as stored: already upright)."""
        if width <= self.width:
            return width, height
        return self.width, max(1, round(height * self.width / width))


WEB = Variant("w", 1200, 82)  # an article page's photo
THUMB = Variant("t", 480, 78)  # the index's and category pages' picture
PRINT = Variant("p", 1800, 88)  # the journal: 1800 px over a 160 mm column is about 285 dpi


def render(data: bytes, variant: Variant) -> bytes:
    """`data` (any format Pillow reads) as an upright RGB JPEG at most variant.width wide, no metadata."""
    with Image.open(io.BytesIO(data)) as picture:
        orientation = picture.getexif().get(_ORIENTATION, 1)
        turned = orientation in (5, 6, 7, 8)
        width, height = (picture.height, picture.width) if turned else picture.size
        target = variant.size(width, height)
        if target != (width, height):
            picture.thumbnail(target[::-1] if turned else target, Image.Resampling.LANCZOS)
        upright = ImageOps.exif_transpose(picture) if orientation != 1 else picture  # a copy only when turned
        flat = upright if upright.mode == "RGB" else _on_white(upright)
        out = io.BytesIO()
        flat.save(out, "JPEG", quality=variant.quality, optimize=True, progressive=False, subsampling="4:2:0")
    return out.getvalue()


def _on_white(picture: Image.Image) -> Image.Image:
    """RGB; transparency (a PNG's) laid on white, as paper shows it."""
    if picture.mode in ("RGBA", "LA") or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return picture.convert("RGB")
