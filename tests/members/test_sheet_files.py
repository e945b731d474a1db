"""GIVEN a file handed in as the member list that is no spreadsheet, or one in an unusual encoding
WHEN it is read THEN the answer says what the file is and what to do, in zh-CN and in en, and
nothing is read from it; a real spreadsheet under the wrong name is read for what it is."""

from __future__ import annotations

import codecs
import csv
import io
import random
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook
from workbooks import encrypted_xlsx, old_xls

from mailflow.members import SheetError, check_character, read_units

CODE = "91510100MA6CA0001" + check_character("91510100MA6CA0001")
HEADER = ["单位名称", "统一社会信用代码", "联络员", "联络员邮箱", "联络员手机"]
ROW = ["成都宏达机械有限公司", CODE, "张伟", "zhangwei@hongda.cn", "13800138001"]


def a_real_xlsx(path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(ROW)
    book.save(path)
    return path


def random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(5000))


def renamed_docx(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")


def plain_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("会员名录/说明.txt", "见附件")


def text_file(path: Path) -> None:
    path.write_text("单位名称,统一社会信用代码\n成都宏达机械有限公司,91510100MA6CA0001X\n", encoding="utf-8")


def web_page(path: Path) -> None:
    path.write_text("<html><body><table><tr><td>单位名称</td></tr></table></body></html>", encoding="utf-8")


def cut_short(path: Path) -> None:
    data = a_real_xlsx(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])


def no_workbook_part(path: Path) -> None:
    """A zip with the workbook's name in it but not the parts openpyxl needs to open it."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")


CASES: list[tuple[str, str, Callable[[Path], None], str, str]] = [
    ("random bytes", "名录.xlsx", random_bytes, "无法识别的文件内容", "not an .xlsx or .csv"),
    ("a Word file renamed", "名录.xlsx", renamed_docx, "这是 Word 文档", "Word document"),
    ("a zip archive", "名录.xlsx", plain_zip, "压缩包（含 1 个文件）", "zip archive of 1 file"),
    ("a text file", "名录.xlsx", text_file, "这是文本文件，不是 .xlsx 文件；如果它是 CSV，请把扩展名改为 .csv", "rename it to .csv"),
    ("a web page exported as Excel", "导出.xls", web_page, "网页（HTML/XML）", "web page"),
    ("a password", "名录.xlsx", encrypted_xlsx, "文件设置了打开密码", "password protected"),
    ("an old .xls", "名录.xls", old_xls, "旧版 Excel 97-2003 格式（.xls）", "old Excel 97-2003 format"),
    ("an empty file", "名录.xlsx", lambda path: path.write_bytes(b""), "文件是空的（0 字节）", "empty (0 bytes)"),
    ("half a file", "名录.xlsx", cut_short, "文件已损坏", "damaged"),
    ("a zip openpyxl cannot open", "名录.xlsx", no_workbook_part, "文件已损坏", "damaged"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "name", "make", "zh", "en"), CASES, ids=[case[0] for case in CASES])
def test_a_file_that_is_no_spreadsheet_is_named_for_what_it_is(
    tmp_path: Path, case: str, name: str, make: Callable[[Path], None], zh: str, en: str
) -> None:
    path = tmp_path / name
    make(path)

    with pytest.raises(SheetError) as caught:
        read_units(path)

    assert zh in caught.value.zh and caught.value.zh.startswith("无法"), caught.value.zh
    assert en in caught.value.en, caught.value.en
    assert name in caught.value.zh and name in caught.value.en


def test_what_to_do_with_a_password_and_with_an_old_xls(tmp_path: Path) -> None:
    encrypted_xlsx(tmp_path / "加密.xlsx")
    old_xls(tmp_path / "旧.xls")
    with pytest.raises(SheetError) as password:
        read_units(tmp_path / "加密.xlsx")
    with pytest.raises(SheetError) as old:
        read_units(tmp_path / "旧.xls")
    assert "取消密码" in password.value.zh and "remove the password" in password.value.en
    assert "另存为" in old.value.zh and "Excel 工作簿 (*.xlsx)" in old.value.zh and "Save As" in old.value.en


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SheetError, match="no such file") as caught:
        read_units(tmp_path / "没有.xlsx")
    assert caught.value.zh.startswith("找不到文件")


@pytest.mark.parametrize("name", ["名录.xls", "名录.csv", "名录"])
def test_a_real_xlsx_under_another_name_is_read_as_one(tmp_path: Path, name: str) -> None:
    a_real_xlsx(tmp_path / "名录.xlsx").rename(tmp_path / name)

    result = read_units(tmp_path / name)

    assert result.problems == () and [row.name for row in result.rows] == ["成都宏达机械有限公司"]


# --- CSV encodings -------------------------------------------------------------------------------


def csv_text(delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows([HEADER, ROW])
    return out.getvalue()


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(
            lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"), id="Excel Unicode text (UTF-16 LE, BOM)"
        ),
        pytest.param(lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"), id="UTF-16 BE with a BOM"),
        pytest.param(lambda text: text.encode("utf-16-le"), id="UTF-16 LE without a BOM"),
        pytest.param(lambda text: text.encode("utf-8-sig"), id="UTF-8 with a BOM"),
        pytest.param(lambda text: text.encode("gb18030"), id="GB18030"),
    ],
)
def test_csv_encodings_offices_write(tmp_path: Path, encode: Callable[[str], bytes]) -> None:
    path = tmp_path / "名录.csv"
    path.write_bytes(encode(csv_text("\t")))

    result = read_units(path)

    assert result.problems == ()
    assert [(row.name, row.code, row.liaison_phone) for row in result.rows] == [
        ("成都宏达机械有限公司", CODE, "13800138001")
    ]


def test_a_csv_in_no_known_encoding(tmp_path: Path) -> None:
    path = tmp_path / "名录.csv"
    path.write_bytes(csv_text().encode("gb18030") + b"\xff\xfe\x00\x81\x00\x00\x01")

    with pytest.raises(SheetError) as caught:
        read_units(path)

    assert "无法识别 CSV 文件的编码" in caught.value.zh and "UTF-16" in caught.value.zh
    assert "encoding" in caught.value.en


def test_a_csv_line_python_cannot_read_is_named(tmp_path: Path) -> None:
    path = tmp_path / "名录.csv"
    path.write_text(csv_text() + '成都金牛机床厂,"' + "x" * 200_000 + '"\r\n', encoding="utf-8")

    with pytest.raises(SheetError) as caught:
        read_units(path)

    assert "第 3 行无法读取" in caught.value.zh and "row 3" in caught.value.en
