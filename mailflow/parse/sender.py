"""The From header read strictly: one mailbox in a shape every honest client writes, or a problem.

Python's own address parser (before the fixes for CVE-2023-27043 and CVE-2024-6923) can be
led to read another address than the one a mail client shows, so the decision whether a
From names exactly one person is made here, on the raw header, before anything trusts it.
A From that is ambiguous in any way is not guessed at: the message is held, never answered
and never matched to a liaison.
"""

from __future__ import annotations

import re
import unicodedata

from mailflow.parse.decode import decode_addresses, decode_header
from mailflow.parse.model import Address

# The problems, each a reason code's `why` (see reasons.MESSAGES["ambiguous_sender"]).
TWICE = "from_twice"
SEVERAL = "from_several"
CONTROL = "from_control"
MALFORMED = "from_malformed"
NAME_ADDRESS = "from_address_in_name"
LOOKALIKE = "from_lookalike"

_FOLD = re.compile(r"\r?\n[ \t]*")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# The shapes honest clients write: `Name <a@b>`, `"Name" <a@b>`, `=?gb2312?B?…?= <a@b>`,
# `<a@b>`, `a@b`, `a@b (Name)`. Specials outside quotes, a quoted local part or an unbalanced
# bracket are what the CVE shapes need, and honest mail lacks. A name or comment may show the
# sender's own address (Outlook's 'a@b.cn' <a@b.cn>), never another.
_QUOTED = r'"(?:[^"\\]|\\.)*+"'
_ATOMS = r'[^"<>(),;:\\\[\]\s]++'  # "@" too: Outlook writes 'a@b.cn' <a@b.cn>; a different one is caught below
# Possessive throughout: the alternatives start with different characters, so matching is
# linear however long a hostile header is.
_PHRASE = rf"(?:{_QUOTED}|{_ATOMS}|\s++)++"
_COMMENT = r"\((?:[^()\\<>]|\\.)*+\)"
_ADDR = r'[^"<>()@,;:\\\[\]\s]++@[^"<>()@,;:\\\[\]\s]++'
_STRICT = re.compile(rf"\s*(?:(?:{_PHRASE})?\s*<\s*{_ADDR}\s*>|{_ADDR})\s*(?:{_COMMENT}\s*)?")
_EMAIL_IN_TEXT = re.compile(r"[^\s@<>\"'()\[\],;:：，]+@[^\s@<>\"'()\[\],;:：，]+\.[^\s@<>\"'()\[\],;:：，]+")
# Scripts whose letters pass for Latin ones at a glance (раураl.com).
_LOOKALIKE_SCRIPTS = ("CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC")


def strict_sender(values: list[bytes], hint: str | None) -> tuple[Address | None, str | None]:
    """The one sender of a message and, when From is anything but one plain mailbox, the problem.

    The address returned with a problem is a best guess for the record, never to act on.
    """
    candidates = [address for value in values for address in decode_addresses(value, hint)]
    with_email = [address for address in candidates if address.email]
    guess = with_email[0] if with_email else (candidates[0] if candidates else None)
    if len(values) > 1:
        return guess, TWICE
    if not values:
        return None, None
    text = _FOLD.sub(" ", values[0].decode("ascii", "surrogateescape")).strip()
    if _CONTROL.search(text) or (guess is not None and _CONTROL.search(guess.email + guess.name)):
        return guess, CONTROL
    if len(with_email) > 1:
        return guess, SEVERAL
    if guess is None or not guess.email:
        return guess, None  # no usable sender at all: the pipeline says so in its own words
    if not _STRICT.fullmatch(text):
        return guess, MALFORMED
    if _names_another_address(guess, text, hint):
        return guess, NAME_ADDRESS
    if looks_alike(guess.email):
        return guess, LOOKALIKE
    return guess, None


def _names_another_address(address: Address, text: str, hint: str | None) -> bool:
    """A display name or comment that shows an address other than the real one."""
    shown = address.name
    comment = re.search(_COMMENT + r"\s*$", text)
    if comment:
        shown += " " + decode_header(comment.group(0).encode("ascii", "surrogateescape"), hint)
    return any(found.lower().strip(".") != address.email for found in _EMAIL_IN_TEXT.findall(shown))


def looks_alike(email: str) -> bool:
    """An address written with letters that imitate others: fullwidth forms, Cyrillic and the like.

    Chinese (例子.中国) and accented Latin (mächine.example) domains are real and pass.
    """
    if unicodedata.normalize("NFKC", email) != email:
        return True
    domain = email.rpartition("@")[2]
    labels = [_idna_label(label) for label in domain.split(".")]
    text = email.rpartition("@")[0] + "@" + ".".join(labels)
    return any(not ch.isascii() and unicodedata.name(ch, "").startswith(_LOOKALIKE_SCRIPTS) for ch in text)


def _idna_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return label.encode("ascii").decode("idna")
    except (UnicodeError, ValueError):
        return label
