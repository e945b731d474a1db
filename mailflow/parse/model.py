"""The typed, frozen values a raw message becomes; nothing downstream touches `email.message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Address:
    name: str
    email: str  # lower-cased addr-spec; "" when the header held no usable address

    @property
    def local(self) -> str:
        return self.email.partition("@")[0]

    @property
    def domain(self) -> str:
        return self.email.partition("@")[2]


@dataclass(frozen=True)
class Attachment:
    filename: str  # decoded as the sender meant it; sanitise before using it as a path
    content_type: str  # declared, lower-case, e.g. "image/jpeg"
    data: bytes
    inline: bool = False  # Content-Disposition inline (or a cid: image) rather than attachment
    content_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class ParsedMail:
    message_id: str | None  # without angle brackets
    subject: str
    from_: Address | None
    # Why From is not one plain mailbox (parse.sender): never act for such a sender.
    sender_problem: str | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    date: datetime | None = None  # aware; None when missing or unreadable
    in_reply_to: str | None = None  # without angle brackets
    references: tuple[str, ...] = ()  # without angle brackets, oldest first
    headers: dict[str, str] = field(default_factory=dict)  # lower-case name -> decoded first value
    auth_results: tuple[str, ...] = ()  # every Authentication-Results header, topmost first
    text: str = ""  # the readable body: text/plain, or text extracted from HTML
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()  # what was repaired or guessed while decoding

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def recipients(self) -> tuple[Address, ...]:
        return self.to + self.cc
