"""Is this mail an answer to a letter we sent? Then it belongs to that letter's thread.

A reply to our acknowledgement is not a new submission or registration, whatever its subject
still says; and a robot that answers every letter without RFC 3834 headers must meet a thread
that we answer at most once more. Read from the headers alone (no database): our Message-IDs
end in our own domain, and our references (BS-2026-0042) stand in the subjects we write.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mailflow.parse import ParsedMail

# What clients put before a subject they answer: Re:, RE：, 回复:, 答复：, 回覆:, AW:, 【自动回复】.
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|回复|答复|回覆)\s*[:：]|【自动回复】|\[自动回复\]|自动回复\s*[:：])", re.IGNORECASE
)
REFERENCE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}-\d{4}-\d{4,})(?![0-9])")


def replied_letter(mail: ParsedMail, is_ours: Callable[[str], bool]) -> str | None:
    """The Message-ID (or, from the subject, the reference) of our letter this mail answers, or None."""
    for message_id in (mail.in_reply_to, *reversed(mail.references)):
        if message_id and is_ours(message_id):
            return message_id
    if _REPLY_PREFIX.match(mail.subject):
        found = REFERENCE.search(mail.subject)
        if found:
            return found.group(1)
    return None
