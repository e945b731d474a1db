"""GIVEN member lists as Excel, WPS and other programs save them WHEN read THEN the header is found
wherever it is, the right sheet is read and named, cells that do not hold what the office typed are
refused by row and cell, and a sheet formatted down to row 1,048,576 does not cost a million rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from workbooks import Formula, Num, Part, Raw, write_xlsx_parts

from mailflow.members import SheetError, SheetResult, check_character, read_units
from mailflow.members.xlsx import EMPTY_RUN, open_xlsx

HEADERS = ["单位名称", "统一社会信用代码", "会员类别", "负责人", "负责人邮箱", "负责人手机", "地址"]
HEADERS += ["联络员", "联络员邮箱", "联络员手机", "职务"]


def code(n: int) -> str:
    body = f"91510100MA6CA{n:04d}"
    return body + check_character(body)


def unit(n: int, **cells: object) -> list[object]:
    """A full row for unit n; keyword arguments replace cells by header (邮箱 for 联络员邮箱 etc.)."""
    values: dict[str, object] = dict(zip(HEADERS, [
        f"成都第{n}机械有限公司", code(n), "会员单位", f"李{n}", f"li{n}@unit{n}.cn", f"138{n:08d}", f"高新区{n}号",
        f"张{n}", f"zhang{n}@unit{n}.cn", f"139{n:08d}", "主任",
    ], strict=True))  # fmt: skip
    values.update({HEADERS[HEADERS.index(key)]: value for key, value in cells.items()})
    return list(values.values())


def book_of(path: Path, *sheets: tuple[str, Sequence[Sequence[object]]], hidden: Sequence[str] = ()) -> Path:
    book = Workbook()
    assert book.active is not None
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
        if title in hidden:
            sheet.sheet_state = "hidden"
    book.save(path)
    return path


def faults(result: SheetResult) -> list[tuple[int, str, str]]:
    return [(p.row, p.kind, p.field) for p in result.problems]


# --- where the header is, and which sheet --------------------------------------------------------


def test_empty_sheets_and_a_header_with_nothing_under_it(tmp_path: Path) -> None:
    with pytest.raises(SheetError) as empty:
        read_units(book_of(tmp_path / "空.xlsx", ("Sheet1", []), ("Sheet2", [[None], []])))
    assert "是空的" in empty.value.zh and "empty" in empty.value.en

    only = book_of(tmp_path / "表头.xlsx", ("名录", [["2026年会员单位名录"], [], HEADERS, [None, None], []]))
    with pytest.raises(SheetError) as headers_only:
        read_units(only)
    assert (
        "第 3 行是表头，但表头下面没有任何单位" in headers_only.value.zh
        and "row 3 is the header" in headers_only.value.en
    )


def test_a_header_under_titles_and_notes_is_found(tmp_path: Path) -> None:
    rows: list[Sequence[object]] = [
        ["2026年会员单位名录"],
        ["（按入会时间排序）"],
        [],
        ["填表人：秘书处", None, "日期：2026-01-05"],
    ]
    rows += [[], [], [], HEADERS, unit(1), unit(2)]
    path = tmp_path / "名录.xlsx"
    write_xlsx_parts(path, [Part("名录", rows, merge="A1:K1")])

    result = read_units(path)

    assert result.header_row == 8 and [row.row for row in result.rows] == [9, 10] and result.problems == ()


def test_a_two_row_header_with_liaison_columns_under_one_merged_cell(tmp_path: Path) -> None:
    """序号, 单位名称 and 备注 merged down over both rows; 联络员 merged across 姓名, 邮箱, 手机."""
    top = ["序号", "单位名称", "统一社会信用代码", "联络员", None, None, "备注"]
    below = [None, None, None, "姓名", "邮箱", "手机", None]
    rows = [
        ["2026年会员单位名录"],
        top,
        below,
        [1, "成都宏达机械有限公司", code(1), "张伟", "zw@hd.cn", "13800138001", "新"],
    ]
    path = tmp_path / "名录.xlsx"
    book_of(path, ("名录", rows))

    result = read_units(path)

    assert result.header_row == 3 and result.ignored == ("序号", "备注") and result.problems == ()
    (row,) = result.rows
    assert (row.row, row.name, row.liaison_name, row.liaison_email, row.liaison_phone) == (
        4, "成都宏达机械有限公司", "张伟", "zw@hd.cn", "13800138001",
    )  # fmt: skip


def test_a_group_named_with_a_suffix(tmp_path: Path) -> None:
    rows = [
        ["单位名称", "统一社会信用代码", "联络员信息", None],
        [None, None, "姓名", "邮箱"],
        ["宏达", code(1), "张伟", "zw@hd.cn"],
    ]
    result = read_units(book_of(tmp_path / "名录.xlsx", ("名录", rows)))
    assert [(r.liaison_name, r.liaison_email) for r in result.rows] == [("张伟", "zw@hd.cn")]


def test_the_first_visible_sheet_with_a_header_is_read_and_the_others_named(tmp_path: Path) -> None:
    path = book_of(
        tmp_path / "名录.xlsx",
        ("旧名录", [HEADERS, unit(9)]),
        ("说明", [["请勿修改表头"]]),
        ("2026", [HEADERS, unit(1)]),
        ("备份", [HEADERS, unit(2)]),
        hidden=("旧名录",),
    )

    result = read_units(path)

    assert (result.sheet, result.hidden, result.skipped_sheets) == ("2026", False, ("备份", "旧名录"))
    assert [row.code for row in result.rows] == [code(1)]


def test_a_hidden_sheet_is_read_when_it_is_the_only_one_with_a_header(tmp_path: Path) -> None:
    path = book_of(tmp_path / "名录.xlsx", ("封面", [["会员单位名录"]]), ("数据", [HEADERS, unit(1)]), hidden=("数据",))
    result = read_units(path)
    assert (result.sheet, result.hidden, len(result.rows)) == ("数据", True, 1)


# --- cells that do not hold what the office typed ------------------------------------------------


def test_formulas_saved_without_their_value_are_named_by_cell(tmp_path: Path) -> None:
    """openpyxl, report generators and scripts write formulas and never calculate them."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["序号", *HEADERS])
    sheet.append(["=ROW()-1", *unit(1)])  # a formula nobody reads: no problem
    sheet.append([2, *unit(2, 联络员邮箱='=LOWER("ZHANG2@UNIT2.CN")')])
    sheet.append([3, '="成都第3"&"机械有限公司"', *unit(3)[1:]])
    path = tmp_path / "生成.xlsx"
    book.save(path)

    result = read_units(path)

    assert faults(result) == [(3, "formula_without_value", "liaison_email"), (4, "formula_without_value", "name")]
    assert result.problems[0].zh.startswith("第 3 行：J3 单元格（联络员邮箱）是公式，但文件里没有保存它的计算结果")
    assert result.problems[0].en.startswith(
        "row 3: cell J3 (联络员邮箱) is a formula whose result the file does not hold"
    )
    assert "B4 单元格（单位名称）" in result.problems[1].zh and [row.row for row in result.rows] == [2]


def test_formulas_with_their_values_are_read_as_values(tmp_path: Path) -> None:
    """What Excel and WPS save: the formula and its result (t="str" for text)."""
    path = tmp_path / "名录.xlsx"
    rows = [HEADERS, [Formula('"成都"&"宏达"', "成都宏达"), Formula("UPPER(X1)", code(1)), *unit(1)[2:5],
                      Formula("13800138000+0", "13800138000", kind="n")]]  # fmt: skip
    write_xlsx_parts(path, [Part("Sheet1", rows)], shared_strings=True)

    (row,) = read_units(path).rows

    assert (row.name, row.code, row.leader_phone) == ("成都宏达", code(1), "13800138000")


def test_error_values_dates_and_logical_values_are_refused_by_cell(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADERS)
    sheet.append(unit(1, 地址=datetime(2026, 1, 2)))  # "1-2号" typed into a General cell
    sheet.append(unit(2, 职务=True))
    sheet.append(unit(3))
    path = tmp_path / "名录.xlsx"
    book.save(path)
    write_xlsx_parts(
        wps := tmp_path / "wps.xlsx",
        [Part("Sheet1", [HEADERS, unit(4, 联络员手机=Raw('<c r="{ref}" t="e"><v>#REF!</v></c>'))])],
    )

    result, errors = read_units(path), read_units(wps)

    assert faults(result) == [(2, "not_text", "address"), (3, "not_text", "liaison_position")]
    assert result.problems[0].zh == (
        "第 2 行：G2 单元格（地址）是日期或时间 2026-01-02，不是文字（Excel 会把“1-2”这类内容自动变成日期）；"
        "请将该列设为文本格式后重新填写"
    )
    assert "K3 单元格（职务）是逻辑值 TRUE" in result.problems[1].zh and "logical value TRUE" in result.problems[1].en
    assert [row.row for row in result.rows] == [4]
    assert faults(errors) == [(2, "error_value", "liaison_phone")]
    assert "J2 单元格（联络员手机）是错误值 #REF!" in errors.problems[0].zh


def test_numbers_where_text_belongs(tmp_path: Path) -> None:
    """A mobile stored as a number is whole; a landline lost its 0; a code in E notation lost digits."""
    path = tmp_path / "名录.xlsx"
    rows = [
        HEADERS,
        unit(1, 负责人手机=13800138000, 联络员手机=87654321),  # mobile, local number: both whole
        unit(5, 负责人手机=4008001234),  # a 400 service number: whole too
        unit(2, 负责人手机=2887654321),  # 028-87654321 typed into a General cell
        unit(3, 统一社会信用代码=Num("9.15101E+17")),
        # an exact integer (not what Excel stores): its digits are all there, so its check character is checked
        unit(4, 统一社会信用代码=915101007234567890),
    ]
    write_xlsx_parts(path, [Part("Sheet1", rows)])

    result = read_units(path)

    assert faults(result) == [
        (4, "phone_lost_zero", "leader_phone"),
        (5, "code_as_number", "code"),
        (6, "bad_code", "code"),
    ]
    assert "F4 单元格（负责人手机）存成了数字 2887654321，开头的 0 可能已丢失" in result.problems[0].zh
    assert "lost its last digits" in result.problems[1].en
    assert [(r.row, r.leader_phone, r.liaison_phone) for r in result.rows] == [
        (2, "13800138000", "87654321"),
        (3, "4008001234", f"139{5:08d}"),
    ]


# --- WPS and other producers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "dimension", [None, "A1", "A1:XFD1048576"], ids=["no used range", "a wrong one", "the whole sheet"]
)
def test_wps_shared_strings_and_any_used_range(tmp_path: Path, dimension: str | None) -> None:
    path = tmp_path / "wps.xlsx"
    rows: list[Sequence[object]] = [["成都市机械制造业商会会员单位名录"], HEADERS]
    rows += [
        unit(1, 负责人手机=Num("13800138000"), 联络员手机="028-87654321"),
        unit(2, 会员类别=Formula("C3", "理事单位")),
    ]
    rows = [[*row, Raw(f'<c r="XFD{n}" s="1"/>')] for n, row in enumerate(rows, 1)]  # styled to the last column
    write_xlsx_parts(path, [Part("Sheet1", rows, merge="A1:K1")], shared_strings=True, dimension=dimension)

    result = read_units(path)

    assert result.problems == () and result.header_row == 2 and result.ignored == ()
    assert [(r.row, r.leader_phone, r.liaison_phone, r.member_class) for r in result.rows] == [
        (3, "13800138000", "028-87654321", "会员单位"),
        (4, f"138{2:08d}", f"139{2:08d}", "理事单位"),
    ]


def test_a_sheet_formatted_to_the_last_row_is_read_without_reading_every_row(tmp_path: Path) -> None:
    """Rows 1,048,576 down, each stored with its style: reading stops EMPTY_RUN rows after the last
    row that holds anything, which a scan of the XML finds; a unit after a gap is still read."""
    gap_end = 5 + EMPTY_RUN + 500
    tail = "".join(f'<row r="{n}" s="1" customFormat="1"/>' for n in range(gap_end + 1, 1_048_577))
    filler: list[Sequence[object]] = [[] for _ in range(gap_end - 6)]  # rows 6 to gap_end - 1, left out of the XML
    rows = [HEADERS, unit(1), unit(2), unit(3), unit(4), *filler, unit(5)]
    path = tmp_path / "格式化.xlsx"
    write_xlsx_parts(path, [Part("Sheet1", rows, tail=tail)], dimension="A1:XFD1048576")

    result = read_units(path)

    assert [row.row for row in result.rows] == [2, 3, 4, 5, gap_end] and result.problems == ()
    with open_xlsx(path) as (sheet,):
        assert sum(1 for _ in sheet.rows()) == gap_end  # not 1,048,576
