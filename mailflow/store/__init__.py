"""The store: SQLModel tables, sessions, migrations, and content-addressed files."""

from mailflow.store.blobs import BlobStore, sha256_hex
from mailflow.store.db import Store, make_engine, migrate
from mailflow.store.models import (
    AddressFlag,
    AuditEntry,
    Change,
    Counter,
    FolderState,
    InboundMessage,
    InboundState,
    JobRun,
    Liaison,
    LiaisonStatus,
    Outbox,
    OutboxPart,
    OutboxState,
    Registration,
    StoredAttachment,
    Submission,
    Unit,
)

__all__ = [
    "AddressFlag",
    "AuditEntry",
    "Change",
    "BlobStore",
    "Counter",
    "FolderState",
    "InboundMessage",
    "InboundState",
    "JobRun",
    "Liaison",
    "LiaisonStatus",
    "Outbox",
    "OutboxPart",
    "OutboxState",
    "Registration",
    "Store",
    "StoredAttachment",
    "Submission",
    "Unit",
    "make_engine",
    "migrate",
    "sha256_hex",
]
