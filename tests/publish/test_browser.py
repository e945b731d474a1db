"""The website in a real browser engine: Playwright drives Debian's Chromium against the built site served
over HTTP on 127.0.0.1. GIVEN the site of adopted submissions WHEN a reader opens it THEN the Chinese
titles render as glyphs (not tofu), every link and image on every page answers 200, and the feed is Atom."""

from __future__ import annotations

import io
import os
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import pytest
from adopted import Cli, adopt
from PIL import Image

from mailflow.app import App

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
A = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@pytest.fixture
def browser(published: dict[str, str]) -> Iterator[Any]:
    """Chromium, started after the submissions are in: Playwright's loop must not run while the daemon's does."""
    if not CHROMIUM.exists():
        why = f"{CHROMIUM} is missing (Debian's chromium package; .ci/setup-services installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser test: {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        engine = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield engine
        engine.close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def serve() -> Iterator[Any]:
    """serve(folder) -> the base URL of an HTTP server on 127.0.0.1 for `folder`, stopped after the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(folder: Path) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_index_renders_the_chinese_titles_as_glyphs(
    browser: Any, serve: Any, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    assert cli("site", "build", "--out", str(tmp_path / "site")).returncode == 0
    page = browser.new_page()
    page.goto(serve(tmp_path / "site") + "index.html")
    assert page.locator("h2.title").all_inner_texts() == [
        "我公司参加2026中国国际机床展览会",
        "<script>alert('标题')</script>新品发布",
        "宏达机械召开2026年安全生产大会",
    ]
    assert page.evaluate("() => document.querySelectorAll('script').length") == 0
    # The same title drawn in the page's font, and as characters no font has (what tofu looks like).
    page.evaluate(
        """() => { for (const [id, text] of [['cjk', '我公司参加展览会'], ['tofu', '\\u{F0001}'.repeat(8)]]) {
             const span = document.createElement('span'); span.id = id; span.textContent = text;
             document.querySelector('h2.title').after(span); } }"""
    )
    cjk, tofu = (Image.open(io.BytesIO(page.locator(f"#{i}").screenshot())).convert("L") for i in ("cjk", "tofu"))
    inked = sum(cjk.histogram()[:128])  # dark pixels
    assert inked > 100, "the title box is blank"
    assert cjk.tobytes() != tofu.resize(cjk.size).tobytes(), "the Chinese text renders as missing-glyph boxes"
    page.close()


def test_every_link_and_image_on_every_page_answers(
    browser: Any, serve: Any, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    assert cli("site", "build", "--out", str(tmp_path / "site")).returncode == 0
    base = serve(tmp_path / "site")
    page = browser.new_page()
    seen, queue, checked = set(), [base + "index.html"], 0
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        if not url.endswith(".html"):
            continue
        page.wait_for_load_state("load")
        # Thumbnails load lazily: below the fold they have not started at "load". Ask each to load
        # now and to decode; one that cannot is broken.
        broken = page.evaluate(
            """() => Promise.all([...document.images].map(i => {
                i.loading = "eager";
                return i.decode().then(() => i.naturalWidth === 0 ? i.src : null, () => i.src);
            })).then(found => found.filter(src => src !== null))"""
        )
        assert broken == [], (url, broken)
        targets = page.evaluate(
            "() => [...document.querySelectorAll('a[href], img[src], link[href]')].map(e => e.href || e.src)"
        )
        for target in targets:
            absolute = urldefrag(urljoin(url, target))[0]
            assert absolute.startswith(base), (url, target)  # nothing leaves the site
            answer = page.request.get(absolute)
            assert answer.status == 200, (url, absolute, answer.status)
            checked += 1
            if absolute.endswith(".html"):
                queue.append(absolute)
    assert {u.rsplit("/", 2)[-2] + "/" + u.rsplit("/", 1)[-1] for u in seen if "/a/" in u} == {
        f"a/{published[k]}.html" for k in ("news", "hostile", "leader")
    }
    assert checked > 30
    page.close()


def test_the_feed_is_valid_atom_with_stable_ids(
    app: App, browser: Any, serve: Any, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    adopt(app, published["tech"], "journal", datetime(2026, 12, 10, 8, 0, tzinfo=UTC))  # not on the site, yet
    assert cli("site", "build", "--out", str(tmp_path / "site")).returncode == 0
    base = serve(tmp_path / "site")
    page = browser.new_page()
    response = page.request.get(base + "feed.xml")
    assert response.status == 200 and "xml" in response.headers["content-type"]
    feed = ET.fromstring(response.body())
    assert feed.tag == f"{A}feed"
    for name in ("id", "title", "updated"):
        assert (feed.findtext(f"{A}{name}") or "").strip(), name
    assert feed.find(f"{A}author/{A}name") is not None
    assert RFC3339.match(feed.findtext(f"{A}updated") or "")
    entries = feed.findall(f"{A}entry")
    ids = []
    for entry in entries:
        for name in ("id", "title", "updated"):
            assert (entry.findtext(f"{A}{name}") or "").strip(), name
        assert RFC3339.match(entry.findtext(f"{A}updated") or "")
        link = entry.find(f"{A}link[@rel='alternate']")
        assert link is not None and page.request.get(urljoin(base + "feed.xml", link.get("href") or "")).status == 200
        ids.append(entry.findtext(f"{A}id"))
    assert len(set(ids)) == len(ids) == 3 and all(i and i.startswith("tag:") for i in ids)
    assert feed.findtext(f"{A}updated") == max(e.findtext(f"{A}updated") or "" for e in entries)
    # Another article comes: the entries already there keep their ids.
    adopt(app, published["tech"], "all", datetime(2026, 12, 20, 8, 0, tzinfo=UTC))
    assert cli("site", "build", "--out", str(tmp_path / "site")).returncode == 0
    again = ET.fromstring(page.request.get(base + "feed.xml").body())
    later = [e.findtext(f"{A}id") for e in again.findall(f"{A}entry")]
    assert later[1:] == ids and again.findtext(f"{A}updated") == "2026-12-20T16:00:00+08:00"
    page.close()
