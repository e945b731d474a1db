"""`mailflow journal build 2026-12`: GIVEN submissions adopted by mail WHEN the month's issue is built THEN the
PDF is A4 with its CJK font embedded, a contents page with the right page numbers, the same as HTML, and
the same bytes every time."""

from __future__ import annotations

from typing import Any

import pytest

import re
import zlib
from datetime import UTC, datetime
from pathlib import Path

from adopted import Cli, adopt, stamps

from mailflow.publish import pdf
from mailflow.app import App
from mailflow.store import SubmissionState

pytestmark = pytest.mark.usefixtures("typesetting")


def pdf_objects(pdf: bytes) -> bytes:
    """The PDF's text with every Flate stream inflated (fonts' dictionaries sit in object streams)."""
    parts = [pdf]
    for found in re.finditer(rb"/FlateDecode[^>]*>>\s*stream\r?\n", pdf):
        try:
            parts.append(zlib.decompressobj().decompress(pdf[found.end() : found.end() + 20_000_000]))
        except zlib.error:
            continue
    return b"\n".join(parts)


def lines_by_page(document: Any) -> list[list[str]]:
    """The text of each line box, page by page, margin boxes (the footer) included."""

    def walk(box: object, into: list[str]) -> None:
        if type(box).__name__ == "LineBox":
            into.append("".join(t.text for t in box.descendants() if isinstance(getattr(t, "text", None), str)))  # type: ignore[attr-defined]
            return
        for child in getattr(box, "children", []):
            walk(child, into)

    pages = []
    for page in document.pages:
        found: list[str] = []
        walk(page._page_box, found)
        pages.append(found)
    return pages


def test_the_issue_is_grouped_by_category_with_liaison_written_articles_first(
    app: App, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    done = cli("journal", "build", "2026-12", "--out", str(tmp_path / "j"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("会刊2026年第12期：3 篇稿件，共 ")
    html = (tmp_path / "j" / "会刊-2026-12.html").read_text(encoding="utf-8")
    order = re.findall(r'<h2 id="c-\w+">(\w+)</h2>|<article id="(BS-[\d-]+)">', html)
    assert order == [
        ("工作动态", ""),
        ("", published["news"]),
        ("", published["leader"]),
        ("先进技术", ""),
        ("", published["tech"]),
    ]
    assert "2026年第12期" in html and "成都市机械制造业商会" in html
    assert '<p class="source">（宏达机械有限公司 王芳）</p>' in html
    assert '<p class="source">（宏达机械有限公司）</p>' in html  # the unit head's: no liaison named
    assert "原始邮件" not in html and "秘书处：" not in html and "单位负责人审核" not in html
    photos = re.findall(r'src="(会刊-2026-12_files/\w+\.jpg)"', html)
    assert len(photos) == 3 and all((tmp_path / "j" / p).is_file() for p in photos)


def test_the_pdf_is_a4_with_the_cjk_font_embedded_and_no_date(
    app: App, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    assert cli("journal", "build", "2026-12", "--out", str(tmp_path / "j")).returncode == 0
    pdf = (tmp_path / "j" / "会刊-2026-12.pdf").read_bytes()
    objects = pdf_objects(pdf)
    assert re.search(rb"/MediaBox\s*\[\s*0 0 595\.\d* 841\.\d*", objects)  # A4 in points
    fonts = set(re.findall(rb"/BaseFont\s*/([A-Z]{6}\+[\w-]+)", objects))  # a subset: six-letter tag
    assert any(b"Noto-Serif-CJK-SC" in f for f in fonts), fonts
    assert re.search(rb"/FontFile[23]?\s", objects)  # the font program itself, not a reference to one
    assert b"/CreationDate" not in objects and b"/ModDate" not in objects
    # Another build, into another folder, gives the same bytes.
    assert cli("journal", "build", "2026-12", "--out", str(tmp_path / "k")).returncode == 0
    assert (tmp_path / "k" / "会刊-2026-12.pdf").read_bytes() == pdf


def test_the_contents_give_each_articles_page_and_pages_are_numbered(
    app: App, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    assert cli("journal", "build", "2026-12", "--out", str(tmp_path / "j")).returncode == 0
    html = tmp_path / "j" / "会刊-2026-12.html"
    document = pdf.engine().HTML(filename=str(html)).render()  # imported as the build imports it
    pages = lines_by_page(document)
    where: dict[str, int] = {}
    for n, page in enumerate(document.pages, start=1):
        for anchor in page.anchors:
            where.setdefault(anchor, n)  # an article running over two pages starts on the first
    contents = "\n".join(pages[1])
    for title, key in (("我公司参加2026中国国际机床展览会", "news"), ("金牛泵业研制成功高效节能离心泵", "tech")):
        line = next(line for line in pages[1] if line.startswith(title))
        assert line.rstrip().endswith(str(where[published[key]])), (line, where)
    assert where[published["tech"]] > where[published["news"]] > 2 and "目　录" in contents
    assert all(f"— {n} —" in page for n, page in enumerate(pages, start=1) if n > 1)  # the cover has none
    assert pdf_objects((tmp_path / "j" / "会刊-2026-12.pdf").read_bytes()).count(b"/Type /Page\n") in (0, len(pages))


def test_a_second_build_rewrites_no_file(app: App, published: dict[str, str], cli: Cli, tmp_path: Path) -> None:
    assert cli("journal", "build", "2026-12", "--out", str(tmp_path / "j")).returncode == 0
    before = stamps(tmp_path / "j")
    again = cli("journal", "build", "2026-12", "--out", str(tmp_path / "j"))
    assert again.stdout.splitlines() == [
        f"会刊2026年第12期：3 篇稿件，PDF 未变 → {tmp_path / 'j' / '会刊-2026-12.pdf'}",
        "文件：写入 0 个，未变 5 个，删除 0 个",
    ]
    assert stamps(tmp_path / "j") == before


def test_the_month_is_the_chambers(app: App, published: dict[str, str], cli: Cli, tmp_path: Path) -> None:
    """Adopted at 00:30 on 1 December in Chengdu (16:30 UTC on 30 November): December's; 1 January's is not."""
    adopt(app, published["hostile"], "journal", datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    adopt(app, published["leader"], "all", datetime(2026, 12, 31, 16, 30, tzinfo=UTC))
    assert cli("journal", "build", "2026-12", "--out", str(tmp_path / "j")).returncode == 0
    html = (tmp_path / "j" / "会刊-2026-12.html").read_text(encoding="utf-8")
    assert published["hostile"] in html and published["leader"] not in html
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_an_article_returned_for_revision_leaves_the_issue_with_its_photos(
    app: App, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    assert cli("journal", "build", "2026-12", "--out", str(tmp_path / "j")).returncode == 0
    adopt(app, published["news"], "all", datetime(2026, 12, 3, 2, 0, tzinfo=UTC), state=SubmissionState.RETURNED)
    done = cli("journal", "build", "2026-12", "--out", str(tmp_path / "j"))
    assert "会刊2026年第12期：2 篇稿件，共" in done.stdout and "写入 2 个，未变 1 个，删除 2 个" in done.stdout
    assert len(list((tmp_path / "j" / "会刊-2026-12_files").glob("*.jpg"))) == 1


def test_a_bad_month_or_one_with_nothing_adopted_gets_a_clear_answer(
    app: App, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    bad = cli("journal", "build", "2026-13", "--out", str(tmp_path / "j"))
    assert bad.returncode == 2 and "月份格式不对：'2026-13'，应写作 2026-12" in bad.stderr
    empty = cli("journal", "build", "2026年10月", "--out", str(tmp_path / "j"))
    assert empty.returncode == 1 and "2026年10月没有采用到会刊的稿件，未生成2026年第10期" in empty.stderr
    assert not (tmp_path / "j").exists()


def test_without_a_cjk_font_the_build_says_what_to_install(
    app: App, published: dict[str, str], cli: Cli, tmp_path: Path
) -> None:
    bare = tmp_path / "fonts.conf"  # fontconfig with no font folder: what a machine without fonts-noto-cjk knows
    bare.write_text('<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig></fontconfig>')
    done = cli("journal", "build", "2026-12", "--out", str(tmp_path / "j"), env={"FONTCONFIG_FILE": str(bare)})
    assert done.returncode == 1
    assert "没有找到中文字体，会刊PDF无法排版。请安装 fonts-noto-cjk" in done.stderr
    assert not list((tmp_path / "j").glob("*"))


def test_the_pdf_engine_leaves_pillows_process_wide_flag_as_it_was() -> None:
    """WeasyPrint turns on LOAD_TRUNCATED_IMAGES at import; attachment checks need it off (a truncated
    photo is refused, not half read), in a fresh process where nothing imported it before."""
    import subprocess
    import sys

    code = "from PIL import ImageFile; from mailflow.publish import pdf; pdf.engine(); print(ImageFile.LOAD_TRUNCATED_IMAGES)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
