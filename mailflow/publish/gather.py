"""What is published: the adopted submissions of an outlet, read in a constant number of statements.

Two statements whatever the number of articles: the submissions with their unit's and liaison's
names (outer joins), then the attachments of their latest mails (a subquery names those mails).
Neither the journal nor the site ever asks the database once per article.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailflow.publish.text import headline
from mailflow.store import Liaison, StoredAttachment, Submission, SubmissionState, Unit
from mailflow.workflows.submission import CATEGORY_LABELS

JOURNAL, SITE = "journal", "site"
OUTLETS = {JOURNAL: ("journal", "all"), SITE: ("site", "all")}  # outlet -> Submission.outlets values for it
PHOTO_TYPES = ("jpeg", "png", "gif", "webp", "bmp", "tiff")  # what Pillow reads and we re-encode as JPEG
DECORATIVE_BYTES = 20 * 1024  # an inline image smaller than this is a logo (validate's default), not a photo
OTHER = "other"


@dataclass(frozen=True)
class Photo:
    """An adopted submission's photo: its blob's sha256 names the file in the attachment store."""

    sha256: str
    name: str
    width: int
    height: int


@dataclass(frozen=True)
class Article:
    """An adopted submission as the journal and the site print it."""

    reference: str
    title: str
    category: str  # a CATEGORY_LABELS key, or OTHER
    unit: str
    liaison: str | None  # the liaison who wrote it; None: not liaison-written (Art. 5 puts those after)
    decided_at: datetime  # aware UTC: when the secretariat adopted it
    text: str
    photos: tuple[Photo, ...]

    @property
    def liaison_written(self) -> bool:
        return self.liaison is not None

    @property
    def category_label(self) -> str:
        return category_label(self.category)

    @property
    def source(self) -> str:
        """The source line under the title, as a Chinese journal prints it: （单位 联络员）."""
        return "（" + " ".join(part for part in (self.unit, self.liaison) if part) + "）"

    @property
    def year(self) -> str:
        """The year in the reference (BS-2026-0042): it never changes, unlike a revised article's dates."""
        found = re.search(r"(?<!\d)(\d{4})(?!\d)", self.reference)
        return found.group(1) if found else f"{self.decided_at:%Y}"


def category_label(key: str) -> str:
    return CATEGORY_LABELS[key][0] if key in CATEGORY_LABELS else "其他"


def category_order() -> tuple[str, ...]:
    """The journal's sections in the regulation's order (Ch. 4), then anything else."""
    return (*CATEGORY_LABELS, OTHER)


def month_bounds(year: int, month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a calendar month in the chamber's zone, as aware UTC instants."""
    start = datetime.combine(date(year, month, 1), time(), zone)
    end = datetime.combine(date(year + month // 12, month % 12 + 1, 1), time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def adopted(
    session: Session, outlet: str, *, since: datetime | None = None, until: datetime | None = None
) -> list[Article]:
    """The submissions adopted for `outlet` (decided in [since, until) when given), unordered."""
    where = [
        col(Submission.state) == SubmissionState.ADOPTED,
        col(Submission.outlets).in_(OUTLETS[outlet]),
        col(Submission.decided_at).is_not(None),
    ]
    if since is not None:
        where.append(col(Submission.decided_at) >= since)
    if until is not None:
        where.append(col(Submission.decided_at) < until)
    rows = session.exec(
        select(Submission, Unit.name, Liaison.name)
        .outerjoin(Unit, col(Unit.id) == col(Submission.unit_id))
        .outerjoin(Liaison, col(Liaison.id) == col(Submission.liaison_id))
        .where(*where)
    ).all()
    latest = func.coalesce(col(Submission.latest_inbound_id), col(Submission.inbound_id))
    mails = select(latest).where(*where).scalar_subquery()
    photos: dict[int, list[Photo]] = {}
    for att in session.exec(
        select(StoredAttachment)
        .where(col(StoredAttachment.inbound_id).in_(mails), col(StoredAttachment.detected_type).in_(PHOTO_TYPES))
        .order_by(col(StoredAttachment.id))
    ).all():
        if _is_photo(att):
            photos.setdefault(att.inbound_id, []).append(
                Photo(att.sha256, att.original_name, att.width or 0, att.height or 0)
            )
    return [
        Article(
            reference=sub.reference,
            title=headline(sub.title) or sub.reference,
            category=sub.category if sub.category in CATEGORY_LABELS else OTHER,
            unit=unit or "",
            liaison=liaison if sub.liaison_id is not None else None,
            decided_at=(sub.decided_at or datetime.min.replace(tzinfo=UTC)).astimezone(UTC),
            text=sub.text,
            photos=tuple(photos.get(sub.latest_inbound_id or sub.inbound_id, ())),
        )
        for sub, unit, liaison in rows
    ]


def _is_photo(att: StoredAttachment) -> bool:
    """A stored picture the checks passed (no reasons: not too small, not corrupt), not a signature logo."""
    stored = bool(att.sha256) and bool(att.width) and bool(att.height)
    return stored and not att.reasons and not (att.inline and att.size < DECORATIVE_BYTES)


def newest_first(articles: Sequence[Article]) -> list[Article]:
    """By date, newest first; the reference breaks ties, so the order never depends on the query."""
    return sorted(articles, key=lambda a: (a.decided_at, a.reference), reverse=True)


def liaisons_first(articles: Sequence[Article], *, newest: bool) -> list[Article]:
    """Art. 5: liaison-written articles before the others, each group by date (newest or oldest first)."""
    ordered = newest_first(articles) if newest else newest_first(articles)[::-1]
    return [a for a in ordered if a.liaison_written] + [a for a in ordered if not a.liaison_written]
