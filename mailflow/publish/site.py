"""`mailflow site build`: the adopted submissions as a static website, with photos and an Atom feed.

The folder it writes:
  index.html, index-2.html …     every article, 30 to a page
  c/<category>.html, -2 …        one list per category (工作动态, 先进技术 …) that has articles
  a/<reference>.html             one page per article (a/BS-2026-0042.html: stable while the site lives)
  p/<sha256[:20]>-w.jpg, -t.jpg  each photo at most 1200 px wide, and a 480 px thumbnail
  feed.xml, style.css
Order (Art. 5 and news sense together): pages run newest first, so page 1 is the latest news;
within each page, the liaison-written articles come first, each group newest first. Putting every
liaison-written article of all time before any other would bury this week's news under years
of older articles; within the page the reader sees, the liaisons' articles lead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from mailflow.publish import images
from mailflow.publish.feed import Entry, feed
from mailflow.publish.files import Output, Tally
from mailflow.publish.gather import Article, Photo, category_order, liaisons_first, newest_first
from mailflow.publish.masthead import Masthead, Photos
from mailflow.publish.pages import asset, page
from mailflow.publish.text import paragraphs, summary

log = logging.getLogger("mailflow.publish")
PER_PAGE = 30


@dataclass
class SiteBuilt:
    tally: Tally
    articles: int = 0
    pages: int = 0
    photos: int = 0
    missing: list[str] = field(default_factory=list)  # photos that could not be read: reference and name


def build_site(
    articles: Sequence[Article], masthead: Masthead, photos: Photos, out: Output, *, base_url: str = ""
) -> SiteBuilt:
    built = SiteBuilt(out.tally, articles=len(articles))
    views = {a.reference: _view(a, masthead, photos, out, built) for a in articles}
    ordered = newest_first(articles)
    present = [c for c in category_order() if any(a.category == c for a in articles)]
    nav = [{"href": f"c/{c}.html", "label": _label(c, articles)} for c in present]
    common = {"chamber": masthead.chamber, "categories": nav}
    for a in articles:
        out.write(f"a/{a.reference}.html", page("article.html.j2", a=views[a.reference], root="../", **common))
        built.pages += 1
    listings: list[tuple[str, str, list[Article]]] = [("index", "", ordered)]
    listings += [(f"c/{c}", _label(c, articles), [a for a in ordered if a.category == c]) for c in present]
    for stem, heading, chosen in listings:
        root = "../" if "/" in stem else ""
        for number, chunk in enumerate(_paged(chosen), start=1):
            pager = _pager(stem, number, max(1, -(-len(chosen) // PER_PAGE)))
            pager["articles"] = [views[a.reference] for a in chunk]
            name = stem + (f"-{number}" if number > 1 else "") + ".html"
            out.write(name, page("list.html.j2", page=pager, heading=heading, root=root, **common))
            built.pages += 1
    out.write("style.css", asset("style.css"))
    entries = [_entry(a, views[a.reference]) for a in ordered]
    out.write(
        "feed.xml", feed(entries, title=masthead.chamber, domain=masthead.domain, zone=masthead.zone, base_url=base_url)
    )
    out.finish()
    return built


def _paged(articles: list[Article]) -> list[list[Article]]:
    """Pages of PER_PAGE by date, newest first; in each, liaison-written articles first (Art. 5)."""
    chunks = [articles[i : i + PER_PAGE] for i in range(0, len(articles), PER_PAGE)] or [[]]
    return [liaisons_first(chunk, newest=True) for chunk in chunks]


def _pager(stem: str, number: int, count: int) -> dict[str, Any]:
    def name(n: int) -> str:
        return stem.rsplit("/", 1)[-1] if n == 1 else f"{stem.rsplit('/', 1)[-1]}-{n}"

    prefix = stem.rsplit("/", 1)[0] + "/" if "/" in stem else ""
    return {
        "number": number,
        "count": count,
        "previous": f"{prefix}{name(number - 1)}.html" if number > 1 else None,
        "next": f"{prefix}{name(number + 1)}.html" if number < count else None,
    }


def _label(category: str, articles: Sequence[Article]) -> str:
    return next(a.category_label for a in articles if a.category == category)


def _view(article: Article, masthead: Masthead, photos: Photos, out: Output, built: SiteBuilt) -> dict[str, Any]:
    """What the templates print of an article; its photos made (or found made) on the way."""
    local = article.decided_at.astimezone(masthead.zone)
    names = (article.unit, article.liaison or "")
    shown = [p for p in article.photos if _photo(p, article, photos, out, built)]
    return {
        "reference": article.reference,
        "title": article.title,
        "href": f"a/{article.reference}.html",
        "category_href": f"c/{article.category}.html",
        "category_label": article.category_label,
        "source": article.source,
        "liaison_written": article.liaison_written,
        "date": f"{local.year}年{local.month}月{local.day}日",
        "date_iso": local.isoformat(timespec="seconds"),
        "year": article.year,
        "author": " ".join(n for n in names if n),
        "paragraphs": paragraphs(article.text, names=names),
        "summary": summary(article.text, names=names),
        "photos": [_image(p, images.WEB) for p in shown],
        "thumb": _image(shown[0], images.THUMB) if shown else None,
    }


def _photo(photo: Photo, article: Article, photos: Photos, out: Output, built: SiteBuilt) -> bool:
    """Make the photo's two sizes; False (and noted) when its stored file is gone or unreadable."""
    try:
        for variant in (images.WEB, images.THUMB):
            rel = _image(photo, variant)["src"]
            out.derive(rel, variant.key(photo.sha256), partial(photos.render, photo.sha256, variant))
    except (OSError, ValueError) as exc:  # Pillow's UnidentifiedImageError is an OSError
        log.warning("photo left out: %s %s: %s", article.reference, photo.name, exc)
        built.missing.append(f"{article.reference} {photo.name}")
        return False
    built.photos += 1
    return True


def _image(photo: Photo, variant: images.Variant) -> dict[str, Any]:
    width, height = variant.size(photo.width, photo.height)
    return {"src": f"p/{photo.sha256[:20]}-{variant.name}.jpg", "width": width, "height": height}


def _entry(article: Article, view: dict[str, Any]) -> Entry:
    return Entry(
        reference=article.reference,
        year=article.year,
        title=article.title,
        href=view["href"],
        updated=article.decided_at,
        author=view["author"],
        summary=view["summary"],
        category=article.category_label,
    )
