"""The site's Atom feed (RFC 4287): one entry per article, newest first, dated by the articles alone.

`<updated>` of the feed is the newest entry's, never the build's time, so an unchanged site
gives an identical feed. Ids are tag: URIs (RFC 4151) from the chamber's mail domain and the
reference (tag:mail.chamber.example.org,2026:BS-2026-0042): they do not move when the site
does. Links are relative to the feed unless the site's address is given.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

ATOM = "http://www.w3.org/2005/Atom"
EMPTY = datetime(1970, 1, 1, tzinfo=UTC)  # a site with no article yet: still a fixed date


@dataclass(frozen=True)
class Entry:
    reference: str
    year: str
    title: str
    href: str  # relative to the feed
    updated: datetime
    author: str
    summary: str
    category: str


def rfc3339(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")


def feed(
    entries: Sequence[Entry], *, title: str, domain: str, zone: ZoneInfo, base_url: str = "", limit: int = 50
) -> bytes:
    """The feed of the newest `limit` entries (already ordered)."""
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "zh-CN"})
    _text(root, "id", f"tag:{domain},2026:site")
    _text(root, "title", title)
    _text(root, "updated", rfc3339(max((e.updated for e in entries), default=EMPTY), zone))
    author = ET.SubElement(root, f"{{{ATOM}}}author")
    _text(author, "name", title)
    ET.SubElement(root, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": base_url + "index.html"})
    if base_url:
        ET.SubElement(root, f"{{{ATOM}}}link", {"rel": "self", "href": base_url + "feed.xml"})
    for entry in entries[:limit]:
        node = ET.SubElement(root, f"{{{ATOM}}}entry")
        _text(node, "id", f"tag:{domain},{entry.year}:{entry.reference}")
        _text(node, "title", entry.title)
        _text(node, "updated", rfc3339(entry.updated, zone))
        _text(node, "published", rfc3339(entry.updated, zone))
        writer = ET.SubElement(node, f"{{{ATOM}}}author")
        _text(writer, "name", entry.author or title)
        ET.SubElement(node, f"{{{ATOM}}}category", {"term": entry.category})
        attributes = {"rel": "alternate", "type": "text/html", "href": base_url + entry.href}
        ET.SubElement(node, f"{{{ATOM}}}link", attributes)
        if entry.summary:
            _text(node, "summary", entry.summary)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, f"{{{ATOM}}}{tag}").text = value
