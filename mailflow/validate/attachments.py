"""Check a message's attachments against the submission rules: allowed types, sizes, real content, photos.

The rules, in the order they are applied to each attachment:

1. Size: over `max_attachment_bytes` is refused before anything is decoded.
2. Type allowed: the extension (case-insensitive) must be in `allowed_extensions`; a name without one
   is judged by its detected content. Refused attachments are not inspected further.
3. Real type: the detected content must fit the extension (or, without one, the declared content type;
   mail clients guess that from the extension, so when there is one it alone is compared). Formats
   that each open the other's files are one family, see `filetypes.ACCEPTED_AS`; anything else,
   including jpeg vs png, is a `type_mismatch`.
4. Images are probed from their header: a bomb is refused without decoding, then corrupt data is
   looked for cheaply, then a photo must be at least min_photo_width × min_photo_height in either
   orientation, judged on its size as displayed (after EXIF rotation).

Every image counts as a submitted photo except decorative inline ones: inline (Content-Disposition
inline, or a Content-ID) *and* under `decorative_max_bytes`, i.e. signature logos and icons. Size in
bytes rather than in pixels decides, because Apple Mail sends real photos inline too, while a 640×480
photo someone pasted into the body is still well over 20 KB and so still has to meet the minimum.
Decorative images are still refused as bombs, but are not held to the photo rules.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mailflow.parse.model import Attachment
from mailflow.reasons import Reason
from mailflow.validate.filetypes import (
    CONTENT_TYPES,
    EXTENSION_TYPES,
    IMAGE_TYPES,
    detect_type,
    label,
    types_match,
)
from mailflow.validate.images import probe_image

MiB = 1024 * 1024
MAX_NAME_BYTES = 150

# No zip: its contents escape every check here (and may be a zip bomb). No executables, scripts, HTML.
DEFAULT_ALLOWED_EXTENSIONS = (
    "pdf", "doc", "docx", "rtf", "txt", "xls", "xlsx", "ppt", "pptx",
    "jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff", "eml",
)  # fmt: skip


@dataclass(frozen=True)
class AttachmentPolicy:
    min_photo_width: int = 800
    min_photo_height: int = 600
    max_attachment_bytes: int = 20 * MiB
    max_total_bytes: int = 40 * MiB
    allowed_extensions: tuple[str, ...] = DEFAULT_ALLOWED_EXTENSIONS  # lower-case, without the dot
    max_pixels: int = 50_000_000
    decorative_max_bytes: int = 20 * 1024  # inline images smaller than this are logos, not photos
    # What counts as a unit's certificate (单位有效证明, Art. 3) on a registration: file types by content.
    certificate_types: tuple[str, ...] = ("pdf", "jpeg", "png", "tiff", "bmp", "webp", "gif")

    def is_certificate(self, check: AttachmentCheck) -> bool:
        """A readable scan or PDF of the certificate: of a listed type by its content, and not refused
        for anything but being smaller than a news photo must be."""
        readable = all(reason.code == "photo_too_small" for reason in check.reasons)
        return not check.inline and readable and check.detected_type in self.certificate_types


@dataclass(frozen=True)
class AttachmentCheck:
    """What was found about one attachment; `reasons` is empty when it passed."""

    filename: str  # as the sender named it
    safe_name: str  # fit to store and to quote in a reply
    declared_type: str | None  # type key from the extension (or content type); None when unknown
    detected_type: str | None  # type key from the content; None when unrecognised
    size: int
    width: int | None = None  # as displayed; None unless an image was sized
    height: int | None = None
    is_photo: bool = False
    inline: bool = False
    reasons: tuple[Reason, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.reasons


def validate_attachments(
    attachments: Sequence[Attachment], policy: AttachmentPolicy
) -> tuple[tuple[AttachmentCheck, ...], tuple[Reason, ...]]:
    """Check each attachment, then the message as a whole; returns (per-attachment checks, message reasons)."""
    checks = tuple(_check_one(att, policy, index) for index, att in enumerate(attachments, start=1))
    total = sum(att.size for att in attachments)
    if total > policy.max_total_bytes:
        params = {"size_mb": _size_mb(total), "limit_mb": _limit_mb(policy.max_total_bytes)}
        return checks, (Reason("attachments_too_large", params),)
    return checks, ()


def _check_one(att: Attachment, policy: AttachmentPolicy, index: int) -> AttachmentCheck:
    detected = detect_type(att.data)  # headers and directories only; cheap even for a refused file
    fallback = f"attachment-{index}" + (f".{_extension_for(detected)}" if detected else "")
    name = sanitize_filename(att.filename, fallback)
    ext = _extension(name)
    content_type = att.content_type.partition(";")[0].strip().lower()
    declared = EXTENSION_TYPES.get(ext) if ext else CONTENT_TYPES.get(content_type, detected)
    check = AttachmentCheck(
        filename=att.filename,
        safe_name=name,
        declared_type=declared,
        detected_type=detected,
        size=att.size,
        inline=att.inline or att.content_id is not None,
    )
    refusals = _refusals(att, check, ext, policy)
    if refusals:
        return replace(check, reasons=refusals)
    reasons = _type_reasons(check, ext or content_type)
    if detected in IMAGE_TYPES or (detected is None and declared in IMAGE_TYPES):
        return _with_image(check, att.data, reasons, policy)
    return replace(check, reasons=reasons)


def _refusals(att: Attachment, check: AttachmentCheck, ext: str, policy: AttachmentPolicy) -> tuple[Reason, ...]:
    """Reasons that stop the attachment from being inspected any further."""
    found = []
    if att.size > policy.max_attachment_bytes:
        limit_mb = _limit_mb(policy.max_attachment_bytes)
        params = {"name": check.safe_name, "size_mb": _size_mb(att.size), "limit_mb": limit_mb}
        found.append(Reason("attachment_too_large", params))
    effective = ext or (_extension_for(check.detected_type) if check.detected_type else "")
    if effective not in policy.allowed_extensions:
        shown = effective or att.content_type or "application/octet-stream"
        params = {"name": check.safe_name, "ext": shown, "allowed": ", ".join(policy.allowed_extensions)}
        found.append(Reason("type_not_allowed", params))
    return tuple(found)


def _type_reasons(check: AttachmentCheck, declared_as: str) -> tuple[Reason, ...]:
    declared, detected = check.declared_type, check.detected_type
    if declared is None:
        return ()
    if detected is None:
        # An unrecognisable image is reported by the probe as corrupt, in the image's own words.
        if declared in IMAGE_TYPES:
            return ()
        return (Reason("unrecognised_content", {"name": check.safe_name, "declared": label(declared)}),)
    if types_match(declared, detected):
        return ()
    shown = declared_as.upper() if "/" not in declared_as else declared_as
    params = {"name": check.safe_name, "declared": shown, "detected": label(detected)}
    return (Reason("type_mismatch", params),)


def _with_image(
    check: AttachmentCheck, data: bytes, reasons: tuple[Reason, ...], policy: AttachmentPolicy
) -> AttachmentCheck:
    info = probe_image(data, policy.max_pixels)
    is_photo = not (check.inline and check.size < policy.decorative_max_bytes)
    sized = info.width > 0 and info.height > 0
    params = {"name": check.safe_name, "width": info.width, "height": info.height}
    if info.bomb:
        reasons += (Reason("image_bomb", params),)
    elif info.corrupt and is_photo:
        reasons += (Reason("corrupt_image", {"name": check.safe_name}),)
    elif is_photo and sized and not _meets_minimum(info.width, info.height, policy):
        minimum = {"min_width": policy.min_photo_width, "min_height": policy.min_photo_height}
        reasons += (Reason("photo_too_small", params | minimum),)
    return replace(
        check,
        width=info.width if sized else None,
        height=info.height if sized else None,
        is_photo=is_photo,
        reasons=reasons,
    )


def _meets_minimum(width: int, height: int, policy: AttachmentPolicy) -> bool:
    """800×600 is met by 800×600 and by 600×800: compare long side with long side, short with short."""
    need_long = max(policy.min_photo_width, policy.min_photo_height)
    need_short = min(policy.min_photo_width, policy.min_photo_height)
    return max(width, height) >= need_long and min(width, height) >= need_short


def _size_mb(size: int) -> str:
    # Rounded up, so that a size just over the limit never reads as equal to it.
    return f"{math.ceil(size * 10 / MiB) / 10:.1f}"


def _limit_mb(limit: int) -> str:
    return f"{limit / MiB:g}"


def _extension_for(file_type: str) -> str:
    return {"jpeg": "jpg", "tiff": "tif"}.get(file_type, file_type)


# ---------------------------------------------------------------------------------------------------
# File names

_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,10})$")
_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})  # controls, bidi overrides, lone surrogates
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{n}" for port in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")}
)


def _extension(name: str) -> str:
    """The lower-case extension without the dot; "" when the name has none (or "v1.2 final")."""
    match = _EXTENSION.search(name)
    return match.group(1).lower() if match else ""


def sanitize_filename(name: str, fallback: str) -> str:
    """A name safe to store on any filesystem and to quote back, keeping Chinese and the extension."""
    name = unicodedata.normalize("NFC", name)  # macOS sends decomposed names
    name = re.split(r"[/\\]", name)[-1]
    name = " ".join(name.split())  # tabs, newlines, full-width and no-break spaces become one space
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    name = _FORBIDDEN.sub("_", name)
    name = name.lstrip(". ").rstrip(". ")  # Windows drops trailing dots and spaces; leading dots hide
    if name.split(".")[0].rstrip().upper() in _WINDOWS_RESERVED:
        name = "_" + name
    name = _cap_bytes(name, MAX_NAME_BYTES)
    return name or fallback


def _cap_bytes(name: str, limit: int) -> str:
    if len(name.encode("utf-8")) <= limit:
        return name
    match = _EXTENSION.search(name)
    ext = match.group(0) if match else ""
    stem = name[: len(name) - len(ext)].encode("utf-8")[: limit - len(ext.encode("utf-8"))]
    # Cutting bytes may split a character: drop the partial one rather than emit invalid UTF-8.
    return stem.decode("utf-8", "ignore").rstrip(". ") + ext
