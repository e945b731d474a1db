"""`mailflow journal build 2026-12`: the month's adopted journal articles as a printable issue, PDF and HTML.

The issue of a month holds the submissions adopted for the journal (outlets journal or all) whose
decision (`decided_at`) falls in that calendar month in the chamber's zone: the secretariat
adopts through December what the December issue prints, whenever the liaison wrote it.
It is one HTML file, typeset into the PDF by pdf.typeset, in the folder given:
  会刊-2026-12.pdf          what the secretariat prints and mails (the name is the issue's own)
  会刊-2026-12.html         the same issue for a screen, with
  会刊-2026-12_files/…      its photos (the folder name browsers give a saved page's files)
Cover (the chamber, 会刊, 2026年第12期), table of contents with page numbers, then one section
per category in the regulation's order (Ch. 4); within a section liaison-written articles first
(Art. 5), each group in the order they were adopted, as a monthly record reads.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from mailflow.publish import images, pdf
from mailflow.publish.files import Output, Tally
from mailflow.publish.gather import Article, Photo, category_label, category_order, liaisons_first
from mailflow.publish.masthead import Masthead, Photos
from mailflow.publish.pages import asset, page
from mailflow.publish.text import paragraphs

log = logging.getLogger("mailflow.publish")


@dataclass(frozen=True)
class Period:
    """A journal issue's month."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period | None:
        """2026-12, 2026-1, 202612 or 2026年12月; None when it is not a month."""
        found = re.fullmatch(r"\s*(\d{4})\s*(?:-|/|\.|年)?\s*(\d{1,2})\s*月?\s*", text)
        if not found or not 1 <= int(found.group(2)) <= 12 or not 2000 <= int(found.group(1)) <= 2999:
            return None
        return cls(int(found.group(1)), int(found.group(2)))

    @property
    def name(self) -> str:
        return f"{self.year}-{self.month:02d}"

    @property
    def issue(self) -> str:
        return f"{self.year}年第{self.month}期"

    @property
    def label(self) -> str:
        return f"{self.year}年{self.month}月"

    @property
    def stem(self) -> str:
        return f"会刊-{self.name}"


@dataclass
class JournalBuilt:
    tally: Tally
    articles: int = 0
    pages: int | None = None  # None: the PDF on disk was already this issue, not typeset again
    pdf: str = ""
    html: str = ""
    missing: list[str] = field(default_factory=list)


def build_journal(
    articles: Sequence[Article], masthead: Masthead, photos: Photos, period: Period, out: Output
) -> JournalBuilt:
    fonts = pdf.cjk_fonts()  # before anything is written: without a font there is no issue
    built = JournalBuilt(out.tally, articles=len(articles), pdf=f"{period.stem}.pdf", html=f"{period.stem}.html")
    made: list[str] = []
    sections = []
    for key in category_order():
        chosen = liaisons_first([a for a in articles if a.category == key], newest=False)
        if chosen:
            views = [_view(a, period, photos, out, built, made) for a in chosen]
            sections.append({"key": key, "label": category_label(key), "articles": views})
    values = {"chamber": masthead.chamber, "issue": period.issue, "period": period.label}
    html = page("journal.html.j2", sections=sections, css=asset("journal.css").decode("utf-8"), **values)
    out.write(built.html, html)
    # The PDF is made again only when what it is made of changed: the page, its photos, the fonts, WeasyPrint.
    digest = hashlib.sha256(
        b"\n".join([html, *(m.encode() for m in made), fonts.key.encode(), pdf.version_key().encode()])
    )

    def typeset() -> bytes:
        data, built.pages = pdf.typeset(html, out.root)
        return data

    out.derive(built.pdf, digest.hexdigest(), typeset)
    out.finish()
    return built


def _view(
    article: Article, period: Period, photos: Photos, out: Output, built: JournalBuilt, made: list[str]
) -> dict[str, Any]:
    shown = []
    for photo in article.photos:
        rel = f"{period.stem}_files/{photo.sha256[:20]}.jpg"
        key = images.PRINT.key(photo.sha256)
        try:
            out.derive(rel, key, partial(photos.render, photo.sha256, images.PRINT))
        except (OSError, ValueError) as exc:
            log.warning("photo left out: %s %s: %s", article.reference, photo.name, exc)
            built.missing.append(f"{article.reference} {photo.name}")
            continue
        made.append(key)
        shown.append(_image(rel, photo))
    return {
        "reference": article.reference,
        "title": article.title,
        "unit": article.unit,
        "source": article.source,
        "paragraphs": paragraphs(article.text, names=(article.unit, article.liaison or "")),
        "photos": shown,
    }


def _image(rel: str, photo: Photo) -> dict[str, Any]:
    width, height = images.PRINT.size(photo.width, photo.height)
    return {"src": rel, "width": width, "height": height}
