"""`mailflow site build`: GIVEN submissions adopted by mail WHEN the site is built THEN the pages show them,
liaison-written first on each page (Art. 5), photos resized without metadata, and a rebuild touches nothing."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from adopted import Cli, adopt, seed, stamps
from PIL import Image

from mailflow.app import App
from mailflow.store import SubmissionState

A = "{http://www.w3.org/2005/Atom}"


class Page(HTMLParser):
    """The text of each element class of interest, and the tags, as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.titles: list[str] = []
        self.texts: list[str] = []
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        classes = (dict(attrs).get("class") or "").split()
        if tag in ("h1", "h2") and "title" in classes:
            self._in, self.titles = "title", [*self.titles, ""]
        elif tag == "p" and "text" in classes:
            self._in, self.texts = "text", [*self.texts, ""]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "p"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.titles[-1] += data
        elif self._in == "text":
            self.texts[-1] += data


def test_the_site_shows_the_adopted_articles_liaison_written_first(
    app: App, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    done = cli("site", "build", "--out", str(tmp_path / "site"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("网站：3 篇稿件，")
    site = tmp_path / "site"
    index = Page((site / "index.html").read_text(encoding="utf-8"))
    # The leader's article (12 Dec) is the newest, but the liaisons' come first on the page.
    assert index.titles == [
        "我公司参加2026中国国际机床展览会",
        "<script>alert('标题')</script>新品发布",
        "宏达机械召开2026年安全生产大会",
    ]
    assert "script" not in index.tags and "img" in index.tags  # the mail's markup is text; the thumbnail is ours
    article = Page((site / f"a/{published['news']}.html").read_text(encoding="utf-8"))
    assert article.texts == [
        "11月20日至23日，我公司参加2026中国国际机床展览会，展出新型数控机床三台，现场签订意向合同五份。",
        "展会期间，多家客商前来洽谈，“智能制造”成为本届展会的热点。",
    ]
    assert "（宏达机械有限公司 王芳）" in (site / f"a/{published['news']}.html").read_text(encoding="utf-8")
    assert not (site / f"a/{published['tech']}.html").exists()  # the journal's only
    assert not (site / f"a/{published['rejected']}.html").exists()
    assert Page((site / "c/news.html").read_text(encoding="utf-8")).titles == index.titles


def test_photos_are_upright_scaled_and_carry_no_metadata(
    app: App, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    assert cli("site", "build", "--out", str(tmp_path / "site")).returncode == 0
    html = (tmp_path / "site" / f"a/{published['news']}.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img src="\.\./(p/[^"]+)" width="(\d+)" height="(\d+)"', html)
    assert [(w, h) for _, w, h in sources] == [("1200", "900"), ("1200", "1600")]  # the second was turned (EXIF 6)
    for rel, width, height in sources:
        with Image.open(tmp_path / "site" / rel) as picture:
            assert (picture.format, picture.size) == ("JPEG", (int(width), int(height)))
            assert not picture.getexif() and "exif" not in picture.info
    thumbs = sorted((tmp_path / "site" / "p").glob("*-t.jpg"))
    assert thumbs and all(Image.open(t).width <= 480 for t in thumbs)


def test_the_feed_is_dated_by_the_newest_article(app: App, published: dict[str, str], cli: Cli, tmp_path: Path) -> None:
    assert (
        cli("site", "build", "--out", str(tmp_path / "site"), "--base-url", "https://www.example.org/").returncode == 0
    )
    feed = ET.parse(tmp_path / "site" / "feed.xml").getroot()
    assert feed.findtext(f"{A}updated") == "2026-12-12T09:00:00+08:00"  # the leader's article, adopted last
    entries = feed.findall(f"{A}entry")
    assert [e.findtext(f"{A}id") for e in entries][0] == f"tag:mailflow.chamber.example.org,2026:{published['leader']}"
    link = entries[0].find(f"{A}link")
    assert link is not None and link.get("href") == f"https://www.example.org/a/{published['leader']}.html"


def test_a_second_build_rewrites_no_file(app: App, published: dict[str, str], cli: Cli, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert cli("site", "build", "--out", str(site)).returncode == 0
    before, feed = stamps(site), (site / "feed.xml").read_bytes()
    again = cli("site", "build", "--out", str(site))
    assert again.returncode == 0 and "文件：写入 0 个，未变 11 个，删除 0 个" in again.stdout
    assert stamps(site) == before and (site / "feed.xml").read_bytes() == feed


def test_an_article_no_longer_adopted_leaves_and_its_files_go(
    app: App, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    (site / "a").mkdir(parents=True)
    (site / "a" / "notes.txt").write_text("not ours")
    assert cli("site", "build", "--out", str(site)).returncode == 0
    adopt(app, published["news"], "all", datetime(2026, 12, 3, 2, 0, tzinfo=UTC), state=SubmissionState.RETURNED)
    done = cli("site", "build", "--out", str(site))
    assert "删除 5 个" in done.stdout  # its page and its two photos in two sizes
    assert not (site / f"a/{published['news']}.html").exists() and not list((site / "p").glob("*"))
    assert (site / "a" / "notes.txt").read_text() == "not ours"  # never written by a build: never removed


def test_pages_run_newest_first_with_liaison_written_first_within_each(app: App, cli: Cli, tmp_path: Path) -> None:
    refs = seed(app, 65, start=datetime(2026, 10, 1, tzinfo=UTC), photos=0)
    assert cli("site", "build", "--out", str(tmp_path / "site")).returncode == 0
    site = tmp_path / "site"
    assert [p.name for p in sorted(site.glob("index*.html"))] == ["index-2.html", "index-3.html", "index.html"]
    first = re.findall(
        r'href="a/(BS-[\d-]+)\.html"><img|<h2 class="title"><a href="a/(BS-[\d-]+)\.html"',
        (site / "index.html").read_text(encoding="utf-8"),
    )
    shown = [a or b for a, b in first]
    newest = refs[::-1][:30]  # seed: every third (n % 3 == 2) is not liaison-written
    by_liaison = [r for r in newest if (int(r[-4:]) - 1) % 3 != 2]
    assert shown == by_liaison + [r for r in newest if r not in by_liaison]


def test_a_bad_base_url_is_refused(cli: Cli, tmp_path: Path) -> None:
    done = cli("site", "build", "--out", str(tmp_path / "site"), "--base-url", "www.example.org")
    assert done.returncode == 2 and "--base-url 须以 http(s):// 开头" in done.stderr
    assert not (tmp_path / "site").exists()
