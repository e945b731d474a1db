"""The one exception tree of mailflow.

Expected outcomes of handling a message (rejected, held, ignored) are return values, not
exceptions; these are for operations that fail::

    MailflowError
    ├── ConfigError          config.yaml or rules/*.yaml is invalid (exit code 2)
    ├── StoreError           the database or the archive cannot be used
    ├── SourceError          a mailbox cannot be reached or read
    │   └── SourceDropped    the connection dropped mid-operation; reconnect and resync
    ├── ParseError           a message is beyond the parse limits or cannot be parsed
    │   └── ParseTimeout     parsing did not finish before its deadline
    ├── PublishError         the journal or the website cannot be built (no CJK font)
    └── DeliveryError        a transport did not deliver a message
        ├── TransientDelivery   try again later (4xx, connection refused or lost before the data)
        ├── PermanentDelivery   refused for good (5xx)
        │   └── RecipientRefused   a recipient refused for good at RCPT TO: the address may be wrong
        └── AmbiguousDelivery   may have arrived (lost after the final dot): never resent on its own
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailflow.reasons import Reason


class MailflowError(Exception):
    """Base of every error mailflow raises on purpose."""


class ConfigError(MailflowError):
    """A configuration or rules file is invalid; `problems` lists each key path and what is wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class StoreError(MailflowError):
    """The database or the raw-mail archive cannot be used."""


class SourceError(MailflowError):
    """A mailbox cannot be reached or read."""


class SourceDropped(SourceError):
    """The connection to the mailbox dropped; the caller reconnects and resyncs."""


class ParseError(MailflowError):
    """A message cannot be parsed within the configured limits; `reason` says why in zh-CN and en."""

    def __init__(self, reason: Reason) -> None:
        self.reason = reason
        super().__init__(reason.en)


class ParseTimeout(ParseError):
    """Parsing a message did not finish before its deadline."""


class DeliveryError(MailflowError):
    """A transport did not deliver a message; the subclass says what the outbox does next."""


class TransientDelivery(DeliveryError):
    """Worth trying again later."""


class PermanentDelivery(DeliveryError):
    """Refused for good."""


class RecipientRefused(PermanentDelivery):
    """The server refused one recipient for good at RCPT TO; `recipient` is the address as sent."""

    def __init__(self, message: str, recipient: str) -> None:
        super().__init__(message)
        self.recipient = recipient


class AmbiguousDelivery(DeliveryError):
    """The outcome is unknown: the message may have been delivered."""


class PublishError(MailflowError):
    """The journal or the website cannot be built (no CJK font installed, for one); the message says what to do."""
