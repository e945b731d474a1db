"""`mailflow circular send | list | show` as the secretariat uses them: a circular with a Chinese file to
the units named, audited; a refusal that names the limit and queues nothing; the letters by unit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from builders import make_app, write_config
from sqlmodel import select

from mailflow.store import AuditEntry, Circular, Liaison, Outbox, OutboxBody, OutboxPart, Unit

BODY = "各会员单位联络员：\n\n现将《2027年度会费缴纳通知》印发给你们，请于1月31日前缴纳。\n\n商会秘书处\n"


def mailflow(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailflow", *args, "--config", str(config)], capture_output=True, text=True, check=False
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A configured home with three units, each with a liaison and a leader; the config's path."""
    config = write_config(tmp_path, circulars={"max_attachments_mb": 1})
    app = make_app(tmp_path)
    with app.store.session() as session:
        for n in (1, 2, 3):
            unit = Unit(name=f"第{n}机械有限公司", code=f"U00{n}", leader_email=f"boss{n}@unit{n}.cn")
            session.add(unit)
            session.flush()
            session.add(Liaison(unit_id=unit.id or 0, name=f"联络员{n}", email=f"liaison{n}@unit{n}.cn"))
    app.close()
    (tmp_path / "通知.txt").write_text(BODY, encoding="gb18030")  # as Notepad on a Chinese Windows saves it
    (tmp_path / "2027年度会费缴纳通知.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 64 + b"\n%%EOF\n")
    return config


def rows(config: Path, model: type, **where: object) -> list:  # type: ignore[type-arg]
    app = make_app(config.parent)
    with app.store.session() as session:
        found = list(session.exec(select(model).filter_by(**where)).all())
    app.close()
    return found


def test_send_queues_one_letter_per_address_of_the_units_named_and_audits_it(home: Path) -> None:
    folder = home.parent
    done = mailflow(
        home, "circular", "send", "--subject", "关于缴纳2027年度会费的通知", "--body", str(folder / "通知.txt"),
        "--attach", str(folder / "2027年度会费缴纳通知.pdf"), "--to", "all", "--units", "u001,U003",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "TZ-2026-0001: 4 letter(s) queued (liaisons 2, leaders 2), 1 file(s) each" in done.stdout
    letters = rows(home, Outbox, kind="circular")
    assert sorted(r.recipients[0] for r in letters) == [
        "boss1@unit1.cn", "boss3@unit3.cn", "liaison1@unit1.cn", "liaison3@unit3.cn",
    ]  # fmt: skip
    (body,) = rows(home, OutboxBody)  # one text for the four letters
    assert {r.body_id for r in letters} == {body.id}
    assert letters[0].subject == "关于缴纳2027年度会费的通知" and body.text.startswith("各会员单位联络员：")
    assert {p.filename for p in rows(home, OutboxPart)} == {"2027年度会费缴纳通知.pdf"}
    (entry,) = rows(home, AuditEntry)
    assert (entry.via, entry.command, entry.record, entry.ok) == ("cli", "circular", "TZ-2026-0001", True)
    assert (
        entry.actor.startswith("cli:")
        and "--units U001,U003" in entry.line
        and "--attach 2027年度会费缴纳通知.pdf" in entry.line
    )
    (record,) = rows(home, Circular)
    assert (record.via, record.units, record.inbound_id) == ("cli", ["U001", "U003"], None)


def test_files_over_the_limit_are_refused_naming_the_limit_and_nothing_is_queued(home: Path) -> None:
    big = home.parent / "高清图集.pdf"
    big.write_bytes(b"%PDF-1.7\n" + b"\0" * (3 * 1024 * 1024 // 2))
    done = mailflow(home, "circular", "send", "--subject", "图集", "--body", str(home.parent / "通知.txt"),
                    "--attach", str(big), "--to", "liaisons")  # fmt: skip
    assert done.returncode == 1
    assert "通知附件合计 1.5 MB，超过 1 MB 的上限，未发出" in done.stderr and "网盘" in done.stderr
    assert rows(home, Outbox) == [] and rows(home, Circular) == []
    (entry,) = rows(home, AuditEntry)
    assert (entry.ok, entry.record) == (False, None) and "超过 1 MB 的上限" in entry.result


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (("--to", "members"), 2, "--to: 'members' is not one of liaisons, leaders, all"),
        (("--to", "liaisons", "--units", "U404"), 1, "以下代码不属于任何会员单位：U404"),
        (("--to", "liaisons", "--subject", " "), 1, "通知没有标题"),
    ],
)
def test_a_circular_that_cannot_go_says_why(home: Path, args: tuple[str, ...], code: int, said: str) -> None:
    base = ["circular", "send", "--subject", "通知", "--body", str(home.parent / "通知.txt")]
    done = mailflow(home, *base, *args)
    assert done.returncode == code and said in done.stderr
    assert rows(home, Outbox) == []


def test_list_and_show_tell_how_each_circular_fared_by_unit(home: Path) -> None:
    body = str(home.parent / "通知.txt")
    assert (
        mailflow(home, "circular", "send", "--subject", "会费通知", "--body", body, "--to", "liaisons").returncode == 0
    )
    listed = json.loads(mailflow(home, "circular", "list", "--json").stdout)
    assert [(c["reference"], c["letters"], c["waiting"], c["sent"]) for c in listed] == [("TZ-2026-0001", 3, 3, 0)]
    assert mailflow(home, "run", "--once").returncode == 0  # the file transport "sends" them
    (item,) = json.loads(mailflow(home, "circular", "list", "--json").stdout)
    assert (item["sent"], item["waiting"]) == (3, 0)
    shown = mailflow(home, "circular", "show", "tz-2026-0001")
    assert shown.returncode == 0
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("TZ-2026-0001") and "会费通知" in lines[0]
    assert lines[1:] == [f"第{n}机械有限公司\tliaison{n}@unit{n}.cn\tliaison\t已发出\t\t#{n}" for n in (1, 2, 3)]
    assert mailflow(home, "circular", "show", "TZ-2026-0404").returncode == 1
