"""`mailflow requests create | list | show`, `mailflow liaisons list` and `mailflow check` as the
secretariat uses them: a request from a GB18030 text file to the units named, audited; a refusal that
says why; who answered, who missed; the liaisons who missed two requests in a row, marked (Art. 4);
and a warning for a due date in a year whose holidays nobody has entered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from builders import make_app, write_config
from requesting import add_units
from sqlmodel import select

from mailflow.app import request_policy
from mailflow.clock import FixedClock
from mailflow.outbound.parts import parts_of
from mailflow.store import AuditEntry, InfoRequest, Outbox, RequestRecipient
from mailflow.workflows.requests import Ask, create
from mailflow.workflows.requests.deadlines import close

BODY = "各会员单位联络员：\n\n请报送贵单位2030年上半年主要经济指标。\n\n商会秘书处\n"


def mailflow(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailflow", *args, "--config", str(config)], capture_output=True, text=True, check=False
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A configured home with three units with a liaison each and one without; the config's path."""
    config = write_config(tmp_path)
    app = make_app(tmp_path)
    add_units(app, 3, without=1)
    app.close()
    (tmp_path / "征集.txt").write_text(BODY, encoding="gb18030")  # as Notepad on a Chinese Windows saves it
    return config


def rows(config: Path, model: type, **where: object) -> list:  # type: ignore[type-arg]
    app = make_app(config.parent)
    with app.store.session() as session:
        found = list(session.exec(select(model).filter_by(**where)).all())
    app.close()
    return found


def test_create_asks_the_units_named_and_says_who_has_no_liaison(home: Path) -> None:
    done = mailflow(
        home, "requests", "create", "--title", "2030年上半年经营情况", "--due", "2030年7月15日",
        "--to", "U001,u003，U004", "--body", str(home.parent / "征集.txt"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.startswith("ZJ-") and "2 letter(s) queued, due 2030-07-15, reminders on 2030-07-10" in done.stdout
    )
    assert "1 unit(s) have no active liaison: 第4机械有限公司（U004）" in done.stderr
    assert "! the holidays of 2030 are not known" in done.stderr  # nobody covers 2030 yet
    letters = rows(home, Outbox, kind="request_letter")
    assert sorted(r.recipients[0] for r in letters) == ["liaison1@unit1.cn", "liaison3@unit3.cn"]
    (request,) = rows(home, InfoRequest)
    assert (request.via, request.units, request.unreached, request.text) == (
        "cli",
        ["U001", "U003", "U004"],
        ["U004"],
        BODY,
    )
    (entry,) = rows(home, AuditEntry)
    assert (entry.via, entry.command, entry.record, entry.ok) == ("cli", "request", request.reference, True)
    assert entry.actor.startswith("cli:") and "--to U001,u003，U004" in entry.line


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--due", "2020-01-01", "--to", "all"), "截止日期 2020-01-01 不晚于今天"),
        (("--due", "下个月", "--to", "all"), "无法识别截止日期“下个月”"),
        (("--due", "2030-07-15", "--to", "U009"), "以下代码不属于任何会员单位：U009"),
        (("--due", "2030-07-15", "--to", ""), "未写明报送对象"),
    ],
)
def test_a_request_that_cannot_go_says_why_and_queues_nothing(home: Path, args: tuple[str, ...], said: str) -> None:
    done = mailflow(home, "requests", "create", "--title", "经营情况", "--body", str(home.parent / "征集.txt"), *args)
    assert done.returncode == 1 and said in done.stderr and "重新发送" in done.stderr
    assert rows(home, InfoRequest) == [] and rows(home, Outbox) == []
    (entry,) = rows(home, AuditEntry)
    assert not entry.ok and said[:8] in entry.result


def test_list_show_and_liaisons_tell_who_answered_who_missed_and_who_missed_twice_in_a_row(home: Path) -> None:
    start = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    app = make_app(home.parent, clock=FixedClock(start))
    policy = request_policy(app.settings)
    references = []
    for n, due in enumerate((date(2026, 11, 10), date(2026, 11, 20))):
        with app.store.session() as session:
            created = create(Ask(f"第{n + 1}期信息征集", BODY, due, (), "cli:test", "cli"), app.tx(session), policy)
            assert not isinstance(created, tuple)
            references.append(created.request.reference)
            if n == 0:  # unit 1 answers the first request in time, unit 2 two days late
                for unit, day in ((1, 8), (2, 12)):
                    row = session.exec(
                        select(RequestRecipient).filter_by(request_id=created.request.id, unit_id=unit)
                    ).one()
                    row.answered_at, row.late = datetime(2026, 11, day, 2, 0, tzinfo=UTC), day > 10
        with app.store.session() as session:  # the close, the day after the due date
            tx = app.tx(session)
            tx.now = datetime(due.year, due.month, due.day, 16, 10, tzinfo=UTC) + timedelta(hours=1)
            close(tx)
    app.close()
    listed = json.loads(mailflow(home, "requests", "list", "--json").stdout)
    assert [(i["reference"], i["state"], i["asked"], i["answered"], i["late"], i["missed"]) for i in listed] == [
        (references[0], "closed", 3, 2, 1, 2),
        (references[1], "closed", 3, 0, 0, 3),
    ]
    shown = json.loads(mailflow(home, "requests", "show", references[0], "--json").stdout)
    by_code = {r["code"]: r for r in shown["recipients"]}
    assert by_code["U001"]["answered_at"].startswith("2026-11-08T10:00") and not by_code["U001"]["missed"]
    assert by_code["U002"]["late"] and by_code["U002"]["missed"] and by_code["U003"]["missed"]
    assert by_code["U004"]["no_liaison"] and not by_code["U004"]["missed"] and shown["unreached"] == ["U004"]
    liaisons = {i["email"]: i for i in json.loads(mailflow(home, "liaisons", "list", "--json").stdout)}
    assert [(liaisons[f"liaison{n}@unit{n}.cn"]["consecutive_misses"], liaisons[f"liaison{n}@unit{n}.cn"]["art4"]) for n in (1, 2, 3)] == [
        (1, False), (2, True), (2, True),
    ]  # fmt: skip
    table = mailflow(home, "liaisons", "list").stdout
    line = next(x for x in table.splitlines() if "liaison2@unit2.cn" in x)
    assert line.endswith("2 ⚠ Art. 4")
    assert mailflow(home, "requests", "show", "ZJ-2026-0099").returncode == 1


def test_check_warns_of_an_open_request_due_in_a_year_nobody_covers(home: Path) -> None:
    app = make_app(home.parent)
    with app.store.session() as session:
        create(
            Ask("2030年征集", BODY, date(2030, 3, 1), (), "cli:test", "cli"),
            app.tx(session),
            request_policy(app.settings),
        )
    app.close()
    done = mailflow(home, "check")
    assert "holidays: chinese-calendar covers 2004–2026" in done.stdout
    assert "ZJ-2026-0001 is due 2030-03-01, in 2030, whose holidays nobody covers" in done.stdout
    covered = write_config(home.parent, holidays={"extra_off": ["2030-01-01"]})
    done = mailflow(covered, "check")
    assert "config adds 2030" in done.stdout and "whose holidays nobody covers" not in done.stdout


def test_check_looks_at_the_years_of_the_instant_mailflow_now_names(home: Path) -> None:
    env = {**os.environ, "MAILFLOW_NOW": "2025-06-01T09:00"}
    run = [sys.executable, "-m", "mailflow", "check", "--config", str(home)]
    rehearsed = subprocess.run(run, capture_output=True, text=True, check=False, env=env)
    assert "MAILFLOW_NOW is set" in rehearsed.stderr
    assert "holidays of" not in rehearsed.stdout  # 2025 and 2026 are both in chinese-calendar
    env["MAILFLOW_NOW"] = "2026-06-01T09:00"
    now = subprocess.run(run, capture_output=True, text=True, check=False, env=env)
    assert "holidays of 2027 are not known" in now.stdout


def test_create_with_a_form_attached_to_every_letter(home: Path) -> None:
    form = home.parent / "经营情况调查表.pdf"
    form.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    done = mailflow(
        home, "requests", "create", "--title", "经营情况", "--due", "2030-07-15", "--to", "all",
        "--body", str(home.parent / "征集.txt"), "--attach", str(form),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    letters = rows(home, Outbox, kind="request_letter")
    app = make_app(home.parent)
    with app.store.engine.connect() as conn:
        carried = parts_of(conn, [r.id or 0 for r in letters])
    app.close()
    assert len(letters) == 3 and all([p.filename for p in carried[r.id or 0]] == [form.name] for r in letters)
    (entry,) = rows(home, AuditEntry)
    assert entry.line.endswith(f"--attach {form.name}")
    missing = mailflow(home, "requests", "create", "--title", "x", "--due", "2030-07-15", "--to", "all",
                       "--body", str(home.parent / "征集.txt"), "--attach", str(home.parent / "无此文件.pdf"))  # fmt: skip
    assert missing.returncode == 2 and "no such file" in missing.stderr
