"""Attachment checks: allowed types, sizes, real content, and the photo size the regulation requires."""

from mailflow.validate.attachments import (
    AttachmentCheck,
    AttachmentPolicy,
    sanitize_filename,
    validate_attachments,
)
from mailflow.validate.filetypes import detect_type
from mailflow.validate.images import ImageInfo, probe_image

__all__ = [
    "AttachmentCheck",
    "AttachmentPolicy",
    "ImageInfo",
    "detect_type",
    "probe_image",
    "sanitize_filename",
    "validate_attachments",
]
