"""Raw bytes -> ParsedMail: charsets, RFC 2047/2231 quirks, parts and attachments."""

from mailflow.parse.limits import ParseLimits
from mailflow.parse.mime import parse
from mailflow.parse.model import Address, Attachment, ParsedMail

__all__ = ["Address", "Attachment", "ParseLimits", "ParsedMail", "parse"]
