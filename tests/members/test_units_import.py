"""GIVEN the secretariat's spreadsheet WHEN `mailflow units import` runs THEN units and liaisons are
created, a second import of the same file changes nothing, an edited file updates in place with a
history line per change (and the old liaison becomes replaced), and a file with a bad row writes
nothing unless --skip-bad; `units export` writes the same layout back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from builders import make_app, write_config
from openpyxl import Workbook
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mailflow.members import read_units
from mailflow.store import AuditEntry, Change, Liaison, Unit

HEADER = [
    "单位名称",
    "统一社会信用代码",
    "会员类别",
    "负责人",
    "负责人邮箱",
    "负责人手机",
    "联络员",
    "联络员邮箱",
    "联络员手机",
    "职务",
]
HONGDA = ["成都宏达机械有限公司", "91110000802100433B", "理事单位", "李建国", "lijg@hongda.cn", "13800138000"]
TIANFU = ["天府精密制造有限公司", "914403001922038216", "会员单位", "赵强", "zhaoq@tianfu.cn", "13900139000"]


def sheet(path: Path, *rows: list[str]) -> Path:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["成都市机械制造业商会会员单位名录（2026年）"])  # a title row above the header, as offices write
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


def mailflow(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailflow", *args, "--config", str(config)], capture_output=True, text=True, check=False
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> dict[str, str]:
    """The database section: SQLite, and PostgreSQL (its batched inserts return ids another way)."""
    if request.param == "sqlite":
        return {}
    return {"url": request.getfixturevalue("pg_url")}


def test_import_reimport_edit_and_history(tmp_path: Path, database: dict[str, str]) -> None:
    config = write_config(tmp_path, database=database)
    first = sheet(
        tmp_path / "名录.xlsx",
        [*HONGDA, "王芳", "wangfang@hongda.cn", "13700137000", "办公室主任"],
        [*TIANFU, "赵敏", "zhaomin@tianfu.cn", "", ""],
    )
    done = mailflow(config, "units", "import", str(first))
    assert done.returncode == 0, done.stderr
    assert "2 new unit(s), 0 updated, 2 new liaison(s)" in done.stdout
    again = mailflow(config, "units", "import", str(first))
    assert again.returncode == 0 and "0 new unit(s), 0 updated, 0 new liaison(s), 0 change(s)" in again.stdout

    edited = sheet(
        tmp_path / "名录-修订.xlsx",
        [*HONGDA[:5], "13800138001", "刘洋", "liuyang@hongda.cn", "", "综合部"],  # new phone, a new liaison
        [*TIANFU, "赵敏", "zhaomin@tianfu.cn", "", ""],
    )
    dry = mailflow(config, "units", "import", "--dry-run", str(edited))
    assert dry.returncode == 0 and "dry run, nothing written" in dry.stdout and "13800138001" in dry.stdout
    assert mailflow(config, "units", "import", str(edited)).returncode == 0

    app = make_app(tmp_path, database=database)
    with app.store.session() as session:
        unit = session.exec(select(Unit).where(Unit.code == "91110000802100433B")).one()
        assert (unit.leader_phone, unit.member_class) == ("13800138001", "理事单位")
        liaisons = session.exec(select(Liaison).where(Liaison.unit_id == unit.id).order_by(col(Liaison.id))).all()
        assert [(x.email, x.status, x.ended_on is not None) for x in liaisons] == [
            ("wangfang@hongda.cn", "replaced", True),
            ("liuyang@hongda.cn", "active", False),
        ]
        changes = session.exec(select(Change).where(Change.unit_id == unit.id).order_by(col(Change.id))).all()
        edits = [(c.field, c.old, c.new) for c in changes if c.why == "导入 名录-修订.xlsx"]
        assert ("leader_phone", "13800138000", "13800138001") in edits and ("status", "active", "replaced") in edits
        audits = session.exec(select(AuditEntry).where(AuditEntry.command == "units-import")).all()
        # the first import and the edited one; neither the unchanged re-import nor the dry run writes one
        assert len(audits) == 2 and all(c.audit_id in {a.id for a in audits} for c in changes)
    app.close()

    shown = mailflow(config, "units", "show", "91110000802100433B")
    assert "13800138000" in shown.stdout and "13800138001" in shown.stdout and "replaced" in shown.stdout
    listed = json.loads(mailflow(config, "liaisons", "list", "--json", "--state", "active").stdout)
    assert sorted(x["email"] for x in listed) == ["liuyang@hongda.cn", "zhaomin@tianfu.cn"]

    exported = tmp_path / "导出.csv"
    assert mailflow(config, "units", "export", str(exported)).returncode == 0
    back = read_units(exported)
    assert back.ok and [(r.code, r.leader_phone, r.liaison_email) for r in back.rows] == [
        ("91110000802100433B", "13800138001", "liuyang@hongda.cn"),
        ("914403001922038216", "13900139000", "zhaomin@tianfu.cn"),
    ]


def test_a_bad_row_writes_nothing_unless_skipped(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    bad_code = "91110000802100433C"  # the check character is wrong
    path = sheet(
        tmp_path / "名录.xlsx",
        [*HONGDA, "王芳", "wangfang@hongda.cn", "", ""],
        ["坏代码有限公司", bad_code, "会员单位", "张三", "zhangsan@bad.cn", ""],
    )
    refused = mailflow(config, "units", "import", str(path))
    assert refused.returncode == 1 and "第 4 行" in refused.stderr and "nothing written" in refused.stderr
    app = make_app(tmp_path)
    with app.store.session() as session:
        assert session.exec(select(Unit)).all() == []
    app.close()
    skipped = mailflow(config, "units", "import", "--skip-bad", str(path))
    assert skipped.returncode == 1 and "1 new unit(s)" in skipped.stdout  # applied, but still says a row was bad
    taken = sheet(tmp_path / "另一.xlsx", [*TIANFU, "王芳", "wangfang@hongda.cn", "", ""])
    clash = mailflow(config, "units", "import", str(taken))
    assert clash.returncode == 1 and "已是“成都宏达机械有限公司”的联络员邮箱" in clash.stderr


def test_the_demo_units_export_and_import_as_they_are(tmp_path: Path) -> None:
    """`mailflow demo` seeds units a real sheet could hold: their export imports back with no change."""
    from mailflow.demo import MEMBERS
    from mailflow.members import is_valid_code

    assert all(is_valid_code(member.code) for member in MEMBERS)
    config = write_config(tmp_path)
    app = make_app(tmp_path)
    with app.store.session() as session:
        for member in MEMBERS:
            session.add(
                Unit(name=member.unit, code=member.code, leader_name=member.leader, leader_email=member.leader_email)
            )
    app.close()
    exported = tmp_path / "名录.xlsx"
    assert mailflow(config, "units", "export", str(exported)).returncode == 0
    again = mailflow(config, "units", "import", str(exported))
    assert again.returncode == 0 and "0 change(s)" in again.stdout, again.stderr


def test_phones_and_codes_stay_text_through_export_and_import(tmp_path: Path) -> None:
    """Leading zeros, a + and spaces survive import -> export (.xlsx and .csv) -> import: no change."""
    config = write_config(tmp_path)
    first = sheet(
        tmp_path / "名录.xlsx",
        [*HONGDA[:5], "02887654321", "王芳", "wangfang@hongda.cn", "+86 138 0013 8001", "办公室主任"],
        [*TIANFU[:5], "0288-7654321", "赵敏", "zhaomin@tianfu.cn", "013900139000", ""],
    )
    assert mailflow(config, "units", "import", str(first)).returncode == 0

    for name in ("导出.xlsx", "导出.csv"):
        exported = tmp_path / name
        assert mailflow(config, "units", "export", str(exported)).returncode == 0
        rows = read_units(exported).rows
        assert [(r.code, r.leader_phone, r.liaison_phone) for r in rows] == [
            ("91110000802100433B", "02887654321", "+86 138 0013 8001"),
            ("914403001922038216", "0288-7654321", "013900139000"),
        ]
        again = mailflow(config, "units", "import", str(exported))
        assert again.returncode == 0 and "0 change(s); 没有变化，未写入任何内容" in again.stdout, again.stderr
    app = make_app(tmp_path)
    with app.store.session() as session:
        assert len(session.exec(select(AuditEntry).where(AuditEntry.command == "units-import")).all()) == 1
    app.close()


def test_an_unchanged_reimport_sends_no_write_at_all(tmp_path: Path) -> None:
    """Not an INSERT, UPDATE or DELETE, not even the audit entry (the bench asserts it at scale)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from typer.testing import CliRunner

    from mailflow.cli import app as cli

    config = write_config(tmp_path)
    path = sheet(tmp_path / "名录.xlsx", [*HONGDA, "王芳", "wangfang@hongda.cn", "13700137000", "主任"], [*TIANFU])
    assert mailflow(config, "units", "import", str(path)).returncode == 0
    writes: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        done = CliRunner().invoke(cli, ["units", "import", str(path), "--config", str(config)])
        edited = sheet(
            tmp_path / "改.xlsx", [*HONGDA[:5], "13800138009", "王芳", "wangfang@hongda.cn", "13700137000", "主任"]
        )
        unchanged_writes = list(writes)
        changed = CliRunner().invoke(cli, ["units", "import", str(edited), "--config", str(config)])
    finally:
        event.remove(Engine, "before_cursor_execute", count)

    assert done.exit_code == 0 and "没有变化" in done.stdout and unchanged_writes == []
    assert changed.exit_code == 0 and "1 change(s)" in changed.stdout
    assert any("INSERT INTO audit_entry" in w for w in writes) and any("UPDATE unit" in w for w in writes)


def test_a_password_protected_file_is_refused_in_chinese_then_english_and_nothing_is_written(tmp_path: Path) -> None:
    from workbooks import encrypted_xlsx

    config = write_config(tmp_path)
    encrypted_xlsx(tmp_path / "名录.xlsx")

    done = mailflow(config, "units", "import", str(tmp_path / "名录.xlsx"))

    zh, en = "文件设置了打开密码", "it is password protected"
    assert done.returncode == 1 and zh in done.stderr and en in done.stderr
    assert done.stderr.index(zh) < done.stderr.index(en) and done.stdout == ""
    app = make_app(tmp_path)
    with app.store.session() as session:
        assert session.exec(select(Unit)).all() == [] and session.exec(select(AuditEntry)).all() == []
    app.close()


def test_the_import_says_which_sheet_it_read_and_names_each_bad_cell(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    book = Workbook()
    old = book.active
    assert old is not None
    old.title = "2025"
    old.sheet_state = "hidden"
    old.append(HEADER)
    old.append(HONGDA)
    current = book.create_sheet("2026")
    current.append(["序号", *HEADER])
    current.append([1, *HONGDA])
    current.append([2, *TIANFU, "赵敏", '=LOWER("ZHAOMIN@TIANFU.CN")'])  # a formula the file holds no value of
    path = tmp_path / "名录.xlsx"
    book.save(path)

    done = mailflow(config, "units", "import", str(path))

    assert done.returncode == 1
    assert "读取了工作表“2026”，第 1 行为表头" in done.stderr and "未读取的工作表（也有表头）：“2025”" in done.stderr
    assert "第 3 行：I3 单元格（联络员邮箱）是公式，但文件里没有保存它的计算结果" in done.stderr
    assert "1 行未通过检查，未写入任何内容" in done.stderr and "未使用的列：序号" in done.stderr


def test_an_import_inserts_in_batches_not_row_by_row(tmp_path: Path) -> None:
    """The statements an import sends do not grow with its units (ids come back by key, not row order)."""
    from typer.testing import CliRunner

    from mailflow.cli import app
    from mailflow.members import check_character

    def statements(count: int) -> int:
        work = tmp_path / str(count)
        work.mkdir()
        rows = []
        for n in range(count):
            body = f"91510100MA{n:07d}"
            rows.append([f"第{n:04d}机械有限公司", body + check_character(body), "会员单位", "李", f"l{n}@u{n}.cn",
                         "", f"张{n}", f"z{n}@u{n}.cn", "", ""])  # fmt: skip
        path = sheet(work / "名录.xlsx", *rows)
        config = write_config(work)
        make_app(work).close()  # the store exists before: its schema is not what is counted
        seen: list[str] = []

        def count_it(conn: object, cursor: object, statement: str, *args: object) -> None:
            seen.append(statement)

        event.listen(Engine, "before_cursor_execute", count_it)
        try:
            done = CliRunner().invoke(app, ["units", "import", str(path), "--config", str(config)])
        finally:
            event.remove(Engine, "before_cursor_execute", count_it)
        assert done.exit_code == 0, done.output
        return sum(1 for s in seen if s.lstrip().upper().startswith("INSERT"))

    assert statements(20) == statements(300)
