"""GIVEN units with their liaisons WHEN `mailflow roster export` writes the roster THEN the .xlsx, the .csv
and the .html read back as the same titled table of active liaisons, by 会员类别 and then in pinyin order,
with phone numbers as text, no leader and no replaced liaison; another suffix is refused, writing nothing."""

from __future__ import annotations

import codecs
import csv
import io
import subprocess
import sys
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from builders import make_app, write_config
from openpyxl import load_workbook

from mailflow.app import App
from mailflow.clock import FixedClock
from mailflow.members.files import unwrap
from mailflow.members.roster import Entry, collation, make_roster
from mailflow.store import Liaison, LiaisonStatus, Unit

CHAMBER = "成都市机械制造业商会"
TITLE_START = f"{CHAMBER}联络员名录（"
HEADER = ["序号", "单位名称", "会员类别", "联络员", "职务", "联络员手机", "联络员邮箱"]
# (unit, class, liaison, position, phone, email), in the order the roster lists them.
EXPECTED = [
    ["四川天府精密制造有限公司", "会长单位", "赵敏", "总经理助理", "13900139000", "zhaomin@tianfu.cn"],
    ["北京重型机床有限公司", "副会长单位", "孙丽", "", "", "sunli@bjzx.cn"],
    ["成都宏达机械有限公司", "理事单位", "王芳", "办公室主任", "13800138000", "wangfang@hongda.cn"],
    ["安徽精工机电有限公司", "会员单位", "钱进", "市场部经理", "02887654321", "qianjin@ahjg.cn"],
    ["成都A&B<精工>有限公司", "会员单位", "周杰", "", "", "zhoujie@ab.cn"],
    ["成都金牛机床厂", "会员单位", "吴刚", "", "13700137000", "wugang@jinniu.cn"],
    ["大连机械有限公司", "", "郑爽", "", "", "zheng@dl.cn"],
]


def seed(app: App) -> None:
    """The units of EXPECTED (stored in another order), a leader each, one replaced liaison, one unit without any."""
    with app.store.session() as session:
        for n, (unit, cls, name, position, phone, email) in enumerate(reversed(EXPECTED)):
            row = Unit(
                name=unit, code=f"U{n:03d}", member_class=cls or None, leader_name="李建国",
                leader_email=f"leader{n}@example.cn", leader_phone="13600136000",
            )  # fmt: skip
            session.add(row)
            session.flush()
            session.add(
                Liaison(
                    unit_id=row.id or 0, name=name, email=email, phone=phone or None, position=position or None,
                    status=LiaisonStatus.ACTIVE,
                )
            )  # fmt: skip
            if unit == "成都宏达机械有限公司":
                session.add(
                    Liaison(unit_id=row.id or 0, name="张旧", email="old@hongda.cn", status=LiaisonStatus.REPLACED)
                )
        session.add(Unit(name="成都无人机械有限公司", code="U999", member_class="会员单位"))


def export(tmp_path: Path, name: str, **sections: object) -> subprocess.CompletedProcess[str]:
    config = write_config(tmp_path, chamber={"name": CHAMBER}, **sections)  # type: ignore[arg-type]
    return subprocess.run(
        [sys.executable, "-m", "mailflow", "roster", "export", str(tmp_path / name), "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    app = make_app(tmp_path, chamber={"name": CHAMBER})
    seed(app)
    app.close()
    return tmp_path


def numbered(rows: list[list[str]]) -> list[list[str]]:
    return [[str(n), *row] for n, row in enumerate(rows, start=1)]


def test_xlsx_has_the_title_row_the_header_and_text_phone_numbers(seeded: Path) -> None:
    result = export(seeded, "名录.xlsx")
    assert result.returncode == 0, result.stderr
    assert "7 liaison(s) of 7 unit(s) written" in result.stdout
    assert "1 unit(s) without an active liaison are not listed" in result.stderr

    book = load_workbook(seeded / "名录.xlsx")
    sheet = book.active
    assert sheet is not None and sheet.title == "联络员名录"
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    title = rows[0][0]
    assert isinstance(title, str) and title.startswith(TITLE_START) and title.endswith("日）")
    assert rows[1] == HEADER
    assert [[str(v) if v is not None else "" for v in row] for row in rows[2:]] == numbered(EXPECTED)
    phone = sheet.cell(row=5, column=6)
    assert (phone.value, phone.data_type, phone.number_format) == ("13800138000", "s", "@")
    assert sheet.cell(row=3, column=1).value == 1  # 序号 is a number
    cells = {str(v) for row in rows for v in row if v is not None}
    assert not {"李建国", "13600136000", "张旧", "old@hongda.cn", "成都无人机械有限公司"} & cells


def test_csv_opens_in_excel_utf8_with_bom_and_phones_as_text(seeded: Path) -> None:
    assert export(seeded, "名录.csv").returncode == 0
    data = (seeded / "名录.csv").read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))
    assert rows[0][0].startswith(TITLE_START) and rows[1] == HEADER
    assert rows[4][5] == '="13800138000"' and rows[5][5] == '="02887654321"'  # Excel shows them as written
    assert [[unwrap(cell) for cell in row] for row in rows[2:]] == numbered(EXPECTED)


class Cells(HTMLParser):
    """The page's title, heading and table cells as a browser shows them."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[str, list[str]] = {"title": [], "h1": [], "th": [], "td": []}
        self.charset = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            self.charset = dict(attrs).get("charset") or self.charset
        if tag in self.texts:
            self._in = tag
            self.texts[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = None if tag == self._in else self._in

    def handle_data(self, data: str) -> None:
        if self._in:
            self.texts[self._in][-1] += data


def test_html_is_a_standalone_page_with_every_text_escaped(seeded: Path) -> None:
    assert export(seeded, "名录.html").returncode == 0
    page = (seeded / "名录.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "@page" in page and "<thead>" in page
    assert "成都A&amp;B&lt;精工&gt;有限公司" in page and "<精工>" not in page
    parser = Cells()
    parser.feed(page)
    assert parser.charset == "utf-8"
    (title,) = parser.texts["title"]
    assert title.startswith(TITLE_START) and parser.texts["h1"] == [title]
    assert parser.texts["th"] == HEADER
    assert parser.texts["td"] == [cell for row in numbered(EXPECTED) for cell in row]


def test_another_suffix_is_refused_in_both_languages_and_nothing_is_written(seeded: Path) -> None:
    result = export(seeded, "名录.pdf")
    assert result.returncode == 2
    assert (
        "只能写出 .xlsx、.csv 或 .html 文件" in result.stderr and "can only write .xlsx, .csv or .html" in result.stderr
    )
    assert not (seeded / "名录.pdf").exists()


def test_without_phones_the_column_is_gone_and_the_content_differs(seeded: Path) -> None:
    assert export(seeded, "名录.csv", roster={"phones": False}).returncode == 0
    rows = list(csv.reader(io.StringIO((seeded / "名录.csv").read_text(encoding="utf-8-sig"), newline="")))
    assert rows[1] == [h for h in HEADER if h != "联络员手机"]
    assert "13800138000" not in (seeded / "名录.csv").read_text(encoding="utf-8-sig")
    found = [Entry(*row, code=row[0], liaison_id=n) for n, row in enumerate(EXPECTED)]
    on = date(2026, 12, 1)
    assert (
        make_roster(found, chamber=CHAMBER, on=on).fingerprint
        != make_roster(found, chamber=CHAMBER, on=on, phones=False).fingerprint
    )
    assert (
        make_roster(found, chamber=CHAMBER, on=on).fingerprint
        == make_roster(list(reversed(found)), chamber=CHAMBER, on=date(2027, 1, 1)).fingerprint
    )  # the order the database gives and the date are not content


def test_pinyin_order_and_the_chambers_own_ranking_of_classes(tmp_path: Path) -> None:
    names = ["重庆", "北京", "安徽", "成都", "鄂州", "大连", "Zeta", "ABC"]
    assert sorted(names, key=collation) == ["ABC", "Zeta", "安徽", "北京", "成都", "大连", "鄂州", "重庆"]
    # 重 is read zhong first, as GB2312 files it; a character outside GB2312 (䶮) comes after all of it.
    assert sorted(["䶮达", "左岸", "阿坝"], key=collation) == ["阿坝", "左岸", "䶮达"]
    app = make_app(tmp_path, clock=FixedClock(datetime(2026, 12, 1, 1, 0, tzinfo=UTC)), chamber={"name": CHAMBER})
    seed(app)
    app.close()
    assert export(tmp_path, "名录.csv", roster={"classes": ["会员单位", "理事单位"]}).returncode == 0
    rows = list(csv.reader(io.StringIO((tmp_path / "名录.csv").read_text(encoding="utf-8-sig"), newline="")))
    assert [row[2] for row in rows[2:]] == ["会员单位"] * 3 + ["理事单位", "副会长单位", "会长单位", ""]
