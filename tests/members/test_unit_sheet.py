"""The member-unit sheet: files as Excel, WPS and Chinese Windows write them, every row problem, round trips."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from workbooks import Num, wps_xlsx

from mailflow.members import (
    RowProblem,
    SheetError,
    SheetResult,
    UnitRow,
    check_character,
    is_valid_code,
    normalise_code,
    read_units,
    write_units,
)

TITLE = "成都市机械制造业商会会员单位名录（2026年）"
HEADERS = ["单位名称", "统一社会信用代码", "会员类别", "负责人", "负责人邮箱", "负责人手机", "地址"]
HEADERS += ["联络员", "联络员邮箱", "联络员手机", "职务"]

# Published codes of real companies, each checked against its registry entry as commonly cited.
PUBLISHED = [
    "91350100M000100Y43",  # the worked example of GB 32100-2015 (its misprint ends in Z; 3 is right)
    "91110000802100433B",  # 北京百度网讯科技有限公司
    "914403001922038216",  # 华为技术有限公司
    "9144030071526726XG",  # 腾讯科技（深圳）有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "91330100716105852F",  # 阿里巴巴（中国）网络技术有限公司
    "91110108551385082Q",  # 小米科技有限责任公司
]


def code(body: str) -> str:
    return body + check_character(body)


HONGDA = code("91510100MA6CA0001")
JINNIU = code("91510100MA6CA0002")
TIANFU = code("91510100MA6CA0003")


def problems_of(result: SheetResult) -> set[tuple[int, str]]:
    return {(problem.row, problem.kind) for problem in result.problems}


# --- the check character ------------------------------------------------------------------------


@pytest.mark.parametrize("valid", PUBLISHED)
def test_published_codes_are_valid(valid: str) -> None:
    assert is_valid_code(valid)
    assert check_character(valid[:17]) == valid[17]


@pytest.mark.parametrize("valid", PUBLISHED)
def test_every_one_character_change_is_caught(valid: str) -> None:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for position in range(18):
        for char in alphabet:
            if char != valid[position]:
                corrupted = valid[:position] + char + valid[position + 1 :]
                assert not is_valid_code(corrupted), corrupted


def test_the_standards_misprinted_example_and_bad_input() -> None:
    assert not is_valid_code("91350100M000100Y4Z")
    assert not is_valid_code("91350100M000100Y4")  # 17 characters
    assert not is_valid_code("91350100M0001O0Y43")  # the letter O is not in the set
    with pytest.raises(ValueError):
        check_character("91350100M000I00Y4")


def test_normalise_code() -> None:
    assert normalise_code(" 9135 0100m000 100y43\u3000") == "91350100M000100Y43"
    assert normalise_code("９１３５０１００Ｍ０００１００Ｙ４３") == "91350100M000100Y43"


# --- files as offices write them ----------------------------------------------------------------


def test_wps_xlsx_with_inline_strings_numbers_spaces_and_an_empty_row(tmp_path: Path) -> None:
    path = tmp_path / "会员单位.xlsx"
    rows: list[Sequence[object]] = [
        [TITLE],
        HEADERS,
        [
            "  成都宏达机械有限公司\u3000",
            HONGDA.lower(),
            "理事单位",
            "李建国",
            "LiJG@HongDa.cn",
            13800138000,
            "成都市高新区",
        ]
        + ["张伟", "zhangwei@hongda.cn", Num("1.3800138001E10"), "市场部经理"],
        ["成都金牛机床厂", " ".join([JINNIU[:6], JINNIU[6:12], JINNIU[12:]]), "会员单位", "王强", "", "028-87654321"],
        [],
        [
            "四川天府重工股份有限公司",
            TIANFU,
            "副会长单位",
            "",
            "",
            "",
            "",
            "刘洋",
            " liuyang@tianfu.com.cn ",
            "13900139000",
        ],
    ]
    wps_xlsx(path, [("Sheet1", rows), ("Sheet2", [["备注"], ["以上名单经理事会审定"]])], merge="A1:K1")

    result = read_units(path)

    assert result.problems == ()
    assert result.header_row == 2 and result.sheet == "Sheet1" and result.skipped_sheets == ()
    assert [row.row for row in result.rows] == [3, 4, 6]
    hongda, jinniu, tianfu = result.rows
    assert hongda == UnitRow(
        row=3,
        name="成都宏达机械有限公司",
        code=HONGDA,
        member_class="理事单位",
        leader_name="李建国",
        leader_email="lijg@hongda.cn",
        leader_phone="13800138000",
        address="成都市高新区",
        liaison_name="张伟",
        liaison_email="zhangwei@hongda.cn",
        liaison_phone="13800138001",
        liaison_position="市场部经理",
    )
    assert jinniu.code == JINNIU and jinniu.leader_phone == "028-87654321" and jinniu.liaison_name == ""
    assert tianfu.liaison_email == "liuyang@tianfu.com.cn" and tianfu.liaison_phone == "13900139000"


def test_excel_xlsx_title_rows_variants_extra_columns_and_the_list_on_the_second_sheet(tmp_path: Path) -> None:
    book = Workbook()
    notes = book.active
    notes.title = "填表说明"
    notes.append(["请按下表格式填写，手机号请填写11位号码"])
    sheet = book.create_sheet("名录")
    sheet.append([TITLE])
    sheet.merge_cells("A1:L1")
    sheet.append(["填报日期：2026年1月"])
    sheet.append(["序号", "企业名称", "信用代码", "会员类型", "法定代表人", "电子邮箱", "手机号码", "单位地址"]
                 + ["联系人", "邮箱", "联系电话", "联络员职务", "备注"])  # fmt: skip
    sheet.append([1, "成都宏达机械有限公司", HONGDA, "理事单位", "李建国", "ljg@hongda.cn", 13800138000.0, "高新区"]
                 + ["张伟", "zw@hongda.cn", 13800138001, "办公室主任", "新入会"])  # fmt: skip
    sheet.append([2])  # a numbered row left empty in the template
    sheet.append([3, "成都金牛机床厂", JINNIU, None, "王强", None, "02887654321", None, "赵敏", "zm@jinniu.com"])
    path = tmp_path / "名录.xlsx"
    book.save(path)

    result = read_units(path)

    assert result.problems == () and result.sheet == "名录" and result.header_row == 3
    assert result.columns["leader_name"] == "法定代表人" and result.columns["leader_email"] == "电子邮箱"
    assert result.columns["liaison_name"] == "联系人" and result.columns["liaison_phone"] == "联系电话"
    assert result.ignored == ("序号", "备注")
    assert [(r.row, r.leader_phone, r.liaison_phone) for r in result.rows] == [
        (4, "13800138000", "13800138001"),
        (6, "02887654321", ""),
    ]
    assert result.rows[0].liaison_position == "办公室主任" and result.rows[1].liaison_email == "zm@jinniu.com"


def test_gb18030_csv_from_chinese_windows(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    lines = [[TITLE], HEADERS, ["成都䶮达机械有限公司", HONGDA, "会员单位", "李建国", "ljg@yanda.cn", "13800138000"]]
    with path.open("w", encoding="gb18030", newline="") as out:
        csv.writer(out).writerows(lines)
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")

    result = read_units(path)

    assert result.problems == ()
    assert [(r.row, r.name, r.leader_phone) for r in result.rows] == [(3, "成都䶮达机械有限公司", "13800138000")]


def test_bom_csv_with_english_headers_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    header = ["Liaison mobile", "USCC", "Liaison", "Unit name", "E-mail", "Position", "Leader", "Leader email"]
    header += ["Member class", "Address", "Notes"]
    row = ["13800138001", HONGDA, "Zhang Wei", "Chengdu Hongda Machinery", "ZW@hongda.cn", "Manager", "Li"]
    row += ["li@hongda.cn", "Council member", "Chengdu", "x"]
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows([header, row])

    result = read_units(path)

    assert result.problems == () and result.ignored == ("Notes",)
    assert result.rows == (
        UnitRow(2, "Chengdu Hongda Machinery", HONGDA, "Council member", "Li", "li@hongda.cn", "", "Chengdu",
                "Zhang Wei", "zw@hongda.cn", "13800138001", "Manager"),
    )  # fmt: skip


def test_two_row_header_with_merged_groups(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["单位名称", "统一社会信用代码", "负责人", None, None, "联络员", None, None, None])
    sheet.append([None, None, "姓名", "手机", "邮箱", "姓名", "职务", "手机", "邮箱"])
    sheet.append(["成都宏达机械有限公司", HONGDA, "李建国", "13800138000", "l@hd.cn", "张伟", "主任", "139", "z@hd.cn"])
    for merged in ("A1:A2", "B1:B2", "C1:E1", "F1:I1"):
        sheet.merge_cells(merged)
    path = tmp_path / "two-rows.xlsx"
    book.save(path)

    (row,) = read_units(path).rows

    assert (row.leader_name, row.leader_phone, row.leader_email) == ("李建国", "13800138000", "l@hd.cn")
    assert (row.liaison_name, row.liaison_position, row.liaison_phone, row.liaison_email) == (
        "张伟", "主任", "139", "z@hd.cn",
    )  # fmt: skip


def test_header_notes_markers_and_unowned_columns(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    header = ["*单位名称", "统一社会信用代码（18位）", "邮箱", "邮箱（联络员）", "负责人:", "职务", "手机（负责人）"]
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([header, ["宏达", HONGDA, "a@b.cn", "z@hd.cn", "李建国", "董事长", "138"]])

    result = read_units(path)

    assert result.columns == {
        "name": "*单位名称",
        "code": "统一社会信用代码（18位）",
        "liaison_email": "邮箱（联络员）",
        "leader_name": "负责人:",
        "leader_phone": "手机（负责人）",
    }
    assert result.ignored == ("邮箱", "职务")  # no person to its left; a leader's position is not kept


def test_only_the_first_list_is_read_and_the_others_are_named(tmp_path: Path) -> None:
    book = Workbook()
    first = book.active
    first.title = "会员单位"
    first.append(["单位名称", "统一社会信用代码"])
    first.append(["成都宏达机械有限公司", HONGDA])
    second = book.create_sheet("原名单")
    second.append(["单位名称", "统一社会信用代码"])
    second.append(["成都宏达机械有限公司", HONGDA])
    path = tmp_path / "units.xlsx"
    book.save(path)

    result = read_units(path)

    assert (result.sheet, result.skipped_sheets, len(result.rows), result.problems) == ("会员单位", ("原名单",), 1, ())


def test_a_list_without_a_header_row(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("姓名,电话\n张伟,138\n", encoding="utf-8")
    with pytest.raises(SheetError, match="no header row") as caught:
        read_units(plain)
    assert "找不到表头行" in caught.value.zh and "单位名称" in caught.value.zh


# --- row problems --------------------------------------------------------------------------------


def test_every_problem_kind_with_its_row(tmp_path: Path) -> None:
    wrong_check = HONGDA[:17] + ("0" if HONGDA[17] != "0" else "1")
    lines = [
        HEADERS,
        ["成都宏达机械有限公司", HONGDA, "", "李建国", "ljg@hongda.cn", "", "", "张伟", "zw＠hongda.cn"],  # 2 ok
        ["", JINNIU, "", "王强"],  # 3 no name
        ["甲公司", "", "", "", "boss@@jia.cn"],  # 4 leader email
        ["乙公司", "", "", "", "", "", "", "", "liaison@yi"],  # 5 liaison email
        ["丙公司", HONGDA[:17]],  # 6 17 characters
        ["丁公司", wrong_check],  # 7 wrong check character
        ["戊公司", "91510100MA6CAOOO12"],  # 8 letter O
        ["己公司", TIANFU],  # 9 same code as 11
        ["庚公司", "", "", "", "shared@gx.cn"],  # 10 same email as 12, another unit
        ["辛公司", TIANFU.lower()],  # 11
        ["壬公司", "", "", "", "", "", "", "", "SHARED@gx.cn"],  # 12
        ["癸公司", "9.15101E+17", "", "", "", "1.38001E+10"],  # 13 numbers Excel spoiled
    ]
    path = tmp_path / "units.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows(lines)

    result = read_units(path)

    assert problems_of(result) == {
        (3, "missing_name"),
        (4, "bad_email"),
        (5, "bad_email"),
        (6, "bad_code"),
        (7, "bad_code"),
        (8, "bad_code"),
        (9, "duplicate_code"),
        (11, "duplicate_code"),
        (10, "shared_email"),
        (12, "shared_email"),
        (13, "code_as_number"),
        (13, "phone_as_number"),
    }
    assert [row.row for row in result.rows] == [2]
    assert result.rows[0].liaison_email == "zw@hongda.cn"  # a full-width ＠ typed with a Chinese keyboard
    by_row = {problem.row: problem for problem in result.problems}
    assert by_row[3].zh == "第 3 行：缺少单位名称" and by_row[3].en == "row 3: the unit name is missing"
    assert by_row[4].field == "leader_email" and "boss@@jia.cn" in by_row[4].zh
    assert by_row[5].field == "liaison_email" and "联络员" in by_row[5].zh and "liaison" in by_row[5].en
    assert "18 位" in by_row[6].zh and "17" in by_row[6].en
    assert f"应为 {HONGDA[17]}" in by_row[7].zh and "check character" in by_row[7].en
    assert "“O”" in by_row[8].zh
    assert "第 11 行重复" in by_row[9].zh and "row 11" in by_row[9].en and "第 9 行" in by_row[11].zh
    assert "第 12 行" in by_row[10].zh and "row 10" in by_row[12].en
    assert all(isinstance(p, RowProblem) and p.zh.startswith(f"第 {p.row} 行") for p in result.problems)


def test_a_code_stored_as_a_number_in_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "units.xlsx"
    wps_xlsx(path, [("Sheet1", [HEADERS, ["成都宏达机械有限公司", Num("9.1110000100004403E+17")]])])

    result = read_units(path)

    assert problems_of(result) == {(2, "code_as_number")}
    assert "文本格式" in result.problems[0].zh


def test_one_unit_may_use_one_email_twice(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([HEADERS, ["小厂", HONGDA, "", "李", "li@xc.cn", "", "", "李", "li@xc.cn"]])
    assert read_units(path).problems == ()


# --- writing and reading back --------------------------------------------------------------------

ROUND_TRIP = (
    UnitRow(
        2,
        "成都宏达机械有限公司",
        HONGDA,
        "理事单位",
        "李建国",
        "ljg@hongda.cn",
        "13800138000",
        "成都市高新区天府大道1号",
        "张伟",
        "zw@hongda.cn",
        "+86 138 0013 8001",
        "市场部经理",
    ),  # fmt: skip
    UnitRow(3, "成都金牛机床厂", "911100001000044477", leader_phone="02887654321", address='=HYPERLINK("x")'),
    UnitRow(4, '四川"天府",重工', TIANFU, liaison_name="刘洋", liaison_phone="-", liaison_position="@主任"),
)


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    write_units(path, ROUND_TRIP)

    result = read_units(path)

    assert result.problems == () and result.rows == ROUND_TRIP
    assert list(result.columns.values()) == HEADERS


def test_written_xlsx_keeps_codes_and_phones_as_text(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    write_units(path, ROUND_TRIP)

    sheet = load_workbook(path).active
    assert [cell.value for cell in sheet[1]] == HEADERS and sheet["A1"].font.bold
    assert sheet["B3"].value == "911100001000044477" and sheet["B3"].data_type == "s"
    assert sheet["F3"].value == "02887654321" and sheet["F3"].number_format == "@"
    assert sheet["G3"].data_type == "s"  # text that looks like a formula stays text
    assert sheet.column_dimensions["A"].width >= 20 and sheet.column_dimensions["B"].width >= 18


def test_written_csv_opens_in_excel(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_units(path, ROUND_TRIP)

    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0] == ",".join(HEADERS)
    assert '"=""02887654321"""' in text and '"=""911100001000044477"""' in text
    assert "13800138000" in text and '="13800138000"' not in text


def test_round_trip_keeps_rows_read_from_an_office_file(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    with source.open("w", encoding="gb18030", newline="") as out:
        csv.writer(out).writerows([[TITLE], HEADERS, ["宏达", HONGDA.lower(), "", "李", " LI@HD.CN "]])
    first = read_units(source).rows
    written = tmp_path / "out.xlsx"
    write_units(written, first)
    assert read_units(written).rows == tuple(replace(row, row=2) for row in first)
