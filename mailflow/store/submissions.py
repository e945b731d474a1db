"""The liaison system's work records: submissions with their versions, and requests for information.

Kept apart from models.py (mail, units, the outbox) because they are what the publication and
request workflows own; the rules of the store (aware UTC datetimes) are the same.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from mailflow.store.models import _ts


class SubmissionState:
    """Where a submission stands: received (waiting for screening), or waiting for the unit head's
    review, or decided: adopted, rejected, returned for revision (a new version reopens it)."""

    RECEIVED = "received"
    AWAITING_REVIEW = "awaiting_review"
    ADOPTED = "adopted"
    REJECTED = "rejected"
    RETURNED = "returned"


class Submission(SQLModel, table=True):
    """信息报送: news or information a liaison reports for the journal and the website.

    The row holds the latest version (title, text, photos, `inbound_id` of the mail that carried
    it); every version, the first included, is a `SubmissionVersion`. `first_inbound_id` is the
    mail that opened it, and stays.
    """

    __tablename__ = "submission"
    __table_args__ = (Index("ix_submission_state", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, unique=True)  # BS-2026-0042
    inbound_id: int = Field(foreign_key="inbound_message.id", unique=True)  # the mail that opened it
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    liaison_id: int | None = Field(default=None, foreign_key="liaison.id")  # set: liaison-written (Art. 5)
    category: str | None = Field(default=None, max_length=60)
    title: str = ""
    text: str = ""
    photo_count: int = 0
    created_at: datetime | None = _ts()
    state: str = Field(default=SubmissionState.RECEIVED, max_length=20)
    version: int = 1  # the latest version's number
    latest_inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id")  # None: the first
    updated_at: datetime | None = _ts()  # when the latest version came
    event_date: date | None = None  # the date of what it reports, as read from the mail
    late_days: int | None = None  # days past the time Ch. 4 allows; None: in time or no date found
    urgent: bool = False  # an important event: the secretariat looks at it the same day
    review: str = Field(
        default="", max_length=20
    )  # how the unit head's review shows: statement | cc_leader | confirmed | none
    outlets: str | None = Field(default=None, max_length=20)  # adopted for: journal | site | all
    decided_at: datetime | None = _ts()
    decided_by: str | None = Field(default=None, max_length=320)
    decision_note: str = ""  # the reason (不采用) or the opinion (退修), as the secretariat wrote it
    request_id: int | None = Field(default=None, foreign_key="info_request.id")  # the request it answers (ZJ-)


class SubmissionVersion(SQLModel, table=True):
    """One version of a submission as it came: the first mail, then each revision."""

    __tablename__ = "submission_version"
    __table_args__ = (UniqueConstraint("submission_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True)
    version: int = 1
    inbound_id: int = Field(foreign_key="inbound_message.id", unique=True)
    title: str = ""
    text: str = ""
    photo_count: int = 0
    created_at: datetime | None = _ts()


class InfoRequest(SQLModel, table=True):
    """报送任务: the secretariat asks units for information by a due date (Art. 4 counts who misses)."""

    __tablename__ = "info_request"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, unique=True)  # ZJ-2026-0003
    inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id", unique=True)  # None: from the CLI
    title: str = ""
    text: str = ""
    due: date  # the last day to answer, in the chamber's zone
    units: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # codes; [] for all
    sender: str = Field(max_length=320)  # the secretariat address, or cli:<user>
    via: str = Field(max_length=10)  # mail | cli
    created_at: datetime | None = _ts()
    letters: int = 0
    unreached: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )  # codes: no active liaison
    reminded_at: datetime | None = _ts()  # the reminders went
    closed_at: datetime | None = _ts()  # the due date passed: misses recorded


class RequestRecipient(SQLModel, table=True):
    """One unit asked by a request: its liaison then, and whether and when it answered."""

    __tablename__ = "request_recipient"
    __table_args__ = (UniqueConstraint("request_id", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="info_request.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    liaison_id: int | None = Field(default=None, foreign_key="liaison.id", index=True)  # None: no active liaison
    email: str | None = Field(default=None, max_length=320)
    answered_at: datetime | None = _ts()
    answer_inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id")
    submission_id: int | None = Field(default=None, foreign_key="submission.id")
    late: bool = False  # answered after the due date
    reminded_at: datetime | None = _ts()
    missed: bool = False  # no answer by the due date (Art. 4); a late answer does not erase it
