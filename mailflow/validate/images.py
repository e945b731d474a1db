"""Read an image's format and displayed size from its header, refusing bombs and corrupt data cheaply.

This is the only module of mailflow that imports PIL; everything else sees an `ImageInfo`. Nothing here
touches PIL's global state (`Image.MAX_IMAGE_PIXELS`, `ImageFile.LOAD_TRUNCATED_IMAGES`, the process-wide
warning filters), because it runs on every message inside a long-lived daemon.
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image

_log = logging.getLogger("mailflow.validate")

# The formats PIL may parse at all. Its other plugins stay out of reach of mail from strangers
# (EPS, for one, hands the data to Ghostscript on load).
PROBED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")

# Non-JPEG images up to this size are decoded in full to find truncated pixel data (about 48 MB as
# RGBA); larger ones are only verified, which for PNG still checks every chunk's CRC.
FULL_DECODE_MAX_PIXELS = 12_000_000

# EXIF orientations 5-8 store the picture turned by a quarter: the viewer swaps width and height.
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})

_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)

# What PIL raises on damaged or hostile data, header or pixels (UnidentifiedImageError is an OSError).
_DATA_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error)


@dataclass(frozen=True)
class ImageInfo:
    """What the header and a cheap decode say about one image."""

    format: str | None  # PIL's name: "JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"; None when unrecognised
    width: int  # as displayed, after EXIF orientation; 0 when unknown
    height: int
    corrupt: bool = False
    bomb: bool = False
    detail: str = ""  # why it is corrupt or a bomb, for logs; "" when fine

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.bomb)


def probe_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Identify `data`, refuse it as a bomb past `max_pixels` before decoding, else check it decodes."""
    with warnings.catch_warnings():
        # Scoped to this call: PIL's "could be a decompression bomb" warning must refuse the image,
        # not print a line to stderr. Before Python 3.14 catch_warnings swaps the process-wide filter
        # list, so probe from one thread at a time.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _probe(data, max_pixels)
        except _BOMB_ERRORS as exc:
            # Past PIL's own limit, Image.open refuses before telling us the size; ask the header again.
            fmt, (width, height) = _size_ignoring_pil_limit(data)
            return ImageInfo(fmt, width, height, bomb=True, detail=str(exc))


def _probe(data: bytes, max_pixels: int) -> ImageInfo:
    try:
        im = Image.open(io.BytesIO(data), formats=PROBED_FORMATS)
    except Image.UnidentifiedImageError:
        return ImageInfo(None, 0, 0, corrupt=True, detail="not an image in a probed format")
    except _DATA_ERRORS as exc:
        return ImageInfo(None, 0, 0, corrupt=True, detail=f"unreadable header: {exc}")
    with im:
        fmt = "JPEG" if im.format == "MPO" else im.format  # MPO: a camera JPEG with extra frames
        width, height = _displayed_size(im)
        if width * height > max_pixels:
            detail = f"{width}×{height} is over the limit of {max_pixels} pixels"
            return ImageInfo(fmt, width, height, bomb=True, detail=detail)
        problem = _decode_problem(im, data)
    return ImageInfo(fmt, width, height, corrupt=problem is not None, detail=problem or "")


def _displayed_size(im: Image.Image) -> tuple[int, int]:
    width, height = im.size
    if _orientation(im) in _SWAPPING_ORIENTATIONS:
        return height, width
    return width, height


def _orientation(im: Image.Image) -> int:
    if im.format == "PNG" and "exif" not in im.info:
        # An eXIf chunk after the pixel data is only found by decoding the whole image; not worth it.
        return 1
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
    except _DATA_ERRORS:  # a malformed EXIF block says nothing about whether the pixels are sound
        return 1
    return value if isinstance(value, int) else 1


def _decode_problem(im: Image.Image, data: bytes) -> str | None:
    """Why the pixel data cannot be read, or None. Bomb errors propagate to the caller."""
    try:
        if im.format in ("JPEG", "MPO"):
            return _jpeg_structure_problem(data)
        pixels = im.width * im.height
        im.verify()  # leaves `im` unusable, hence the reopen below
        if pixels <= FULL_DECODE_MAX_PIXELS:
            with Image.open(io.BytesIO(data), formats=PROBED_FORMATS) as again:
                again.load()
    except _DATA_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _jpeg_structure_problem(data: bytes) -> str | None:
    """Why a JPEG's scan is incomplete, read from its markers without decoding, or None.

    Decoding (even at 1/8 scale) costs milliseconds per photo and in practice finds the same
    fault: a file cut short, whose scan never reaches its End Of Image marker. Inside a
    scan, 0xFF is always followed by 0x00 or a restart marker, so an FFD9 after the first
    Start Of Scan is the real end (cameras may append trailers after it).
    """
    sos = _first_scan(data)
    if sos is None:
        return "no Start Of Scan marker: the picture data is missing"
    if data.rfind(b"\xff\xd9") < sos:
        return "no End Of Image marker after the scan: the file is cut short"
    return None


def _first_scan(data: bytes) -> int | None:
    """Offset of the main image's first SOS, walking the segments (an EXIF thumbnail has its own)."""
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:
            return pos
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return None


def _size_ignoring_pil_limit(data: bytes) -> tuple[str | None, tuple[int, int]]:
    """The stored size, read with the format's own opener, which applies no global pixel limit."""
    prefix = data[:16]
    for fmt in PROBED_FORMATS:
        factory, accept = Image.OPEN.get(fmt, (None, None))
        if factory is None or (accept is not None and accept(prefix) is not True):
            continue
        try:
            with factory(io.BytesIO(data), "") as im:
                return fmt, im.size
        except _DATA_ERRORS as exc:  # not this format after all, or a header too damaged to size
            _log.debug("%s header unreadable: %s", fmt, exc)
    return None, (0, 0)
