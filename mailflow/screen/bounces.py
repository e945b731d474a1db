"""Read a bounce: which of our messages it is about, for whom, and why (RFC 3464 and common practice).

The original is named by its Message-ID: in the returned headers (text/rfc822-headers or
message/rfc822), or quoted in the text by MTAs that send no report part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from mailflow.parse import ParsedMail

_FIELD = re.compile(rb"^(Final-Recipient|Original-Recipient|Action|Status|Diagnostic-Code)\s*:\s*(.+)$", re.I | re.M)
_FOLD = re.compile(rb"\r?\n[ \t]+")  # a line break that continues the field above (RFC 5322 folding)
_MESSAGE_ID = re.compile(r"Message-ID:\s*<([^<>\s]+)>", re.I)


@dataclass(frozen=True)
class Bounce:
    message_id: str | None  # our Message-ID, without brackets, when found
    recipient: str | None
    status: str | None  # e.g. 5.1.1
    action: str | None  # failed, delayed, …
    diagnostic: str | None

    @property
    def permanent(self) -> bool:
        if self.action and self.action.lower() == "delayed":
            return False
        return not (self.status or "").startswith("4")

    def describe(self) -> str:
        parts = [p for p in (self.status, self.diagnostic) if p]
        return " ".join(parts) or "delivery failed"


def read_bounce(mail: ParsedMail, domain: str) -> Bounce:
    """What a bounce says; `message_id` is set only for a Message-ID in our `domain`."""
    fields: dict[str, str] = {}
    for part in mail.attachments:
        if part.content_type == "message/delivery-status":
            # Unfolded first: Postfix folds a long Diagnostic-Code, and its first line alone
            # often stops mid-sentence, before what the server said of the address.
            for name, value in _FIELD.findall(_FOLD.sub(b" ", part.data)):
                fields.setdefault(name.decode().lower(), value.decode("utf-8", "replace").strip())
    return Bounce(
        message_id=_our_message_id(mail, domain),
        recipient=_address(fields.get("final-recipient") or fields.get("original-recipient")),
        status=fields.get("status"),
        action=fields.get("action"),
        diagnostic=fields.get("diagnostic-code"),
    )


def _our_message_id(mail: ParsedMail, domain: str) -> str | None:
    suffix = "@" + domain.lower()
    candidates: list[str] = []
    for part in mail.attachments:
        if part.content_type in ("text/rfc822-headers", "message/rfc822"):
            value = BytesHeaderParser(policy=compat32).parsebytes(part.data).get("Message-ID")
            if value:
                candidates.append(str(value).strip().strip("<>"))
    candidates += _MESSAGE_ID.findall(mail.text)
    return next((c for c in candidates if c.lower().endswith(suffix)), None)


def _address(value: str | None) -> str | None:
    if not value:
        return None
    address = value.split(";", 1)[-1].strip().strip("<>").lower()
    return address or None
