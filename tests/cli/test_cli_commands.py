"""The command line as the secretariat uses it: init, check, run --once, status, inbox list, reprocess, rules test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders import REPO, deliver, make_jpeg, make_mail


def mailflow(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILFLOW_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "mailflow", *args], check=False, cwd=cwd, capture_output=True, text=True, env=env
    )
    if check and result.returncode != 0:
        raise AssertionError(f"mailflow {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh folder after `mailflow init`: the shipped config and rules, the Maildir, the database."""
    mailflow(tmp_path, "init")
    config = (tmp_path / "config.yaml").read_text(encoding="utf-8")
    # Deliveries in these tests happen after init; take them all.
    (tmp_path / "config.yaml").write_text(
        config.replace("start_from: first_start", "start_from: all", 1), encoding="utf-8"
    )
    return tmp_path


def test_init_writes_a_working_setup_in_an_empty_folder(tmp_path: Path) -> None:
    result = mailflow(tmp_path, "init")
    assert "wrote" in result.stdout
    assert (tmp_path / "config.yaml").read_bytes() == (REPO / "config.yaml").read_bytes()
    assert sorted(p.name for p in (tmp_path / "rules").iterdir()) == sorted(p.name for p in (REPO / "rules").iterdir())
    assert (tmp_path / "var" / "Maildir" / "new").is_dir() and (tmp_path / "var" / "mailflow.db").exists()
    check = mailflow(tmp_path, "check")
    assert "✓ source local" in check.stdout and "database at schema 0014" in check.stdout


def test_one_pass_then_status_and_inbox_list_in_json(home: Path) -> None:
    maildir = home / "var" / "Maildir"
    deliver(maildir, make_mail(sender="stranger@example.net"))
    deliver(maildir, make_mail(subject="自动回复:休假中", headers={"Auto-Submitted": "auto-replied"}))
    result = mailflow(home, "run", "--once")
    assert "archived 2" in result.stdout and "processed 2" in result.stdout
    status = json.loads(mailflow(home, "status", "--json").stdout)
    assert status["counts"]["held"] == 1 and status["counts"]["ignored"] == 1 and status["total"] == 2
    (folder,) = status["folders"]
    assert folder["source"] == "local" and folder["last_poll"] is not None and folder["last_error"] is None
    jobs = {job["job"]: job for job in status["jobs"]}  # the pass ran the scheduler: first starts, nothing sent
    job = jobs["digest"]
    assert (job["job"], job["outcome"]) == ("digest", "first start") and job["slot"].endswith("T08:30")
    assert (jobs["roster"]["outcome"], jobs["roster"]["slot"][-5:]) == ("first start", "17:00")
    assert status["outbox"]["sent"] == 1  # the stranger heard how to register
    items = json.loads(mailflow(home, "inbox", "list", "--json").stdout)
    assert [(i["state"], i["subject"]) for i in items] == [
        ("held", "【报送】我公司参加2026中国机械工业博览会"),
        ("ignored", "自动回复:休假中"),
    ]
    assert items[0]["reasons"][0]["zh"] == "发件人 stranger@example.net 不是已登记的联络员"
    table = mailflow(home, "inbox", "list").stdout
    assert "不是已登记的联络员" in table and "held" in table


def test_reprocess_held_after_the_rules_change(home: Path) -> None:
    deliver(home / "var" / "Maildir", make_mail(subject="关于展会的一些情况", sender="stranger@example.net"))
    mailflow(home, "run", "--once")
    rules = home / "rules" / "30-local.yaml"
    rules.write_text(
        "rules:\n  - name: expo-registration\n    order: 1\n    intent: registration\n    when:\n      subject: 展会\n",
        encoding="utf-8",
    )
    result = mailflow(home, "reprocess", "--held")
    assert "held -> processed" in result.stdout
    (item,) = json.loads(mailflow(home, "inbox", "list", "--json").stdout)
    assert (item["state"], item["intent"]) == ("processed", "registration")
    missing = mailflow(home, "reprocess", "999", check=False)
    assert missing.returncode == 1 and "no such message" in missing.stderr


def test_rules_test_explains_the_match_and_the_misses(home: Path) -> None:
    eml = home / "sample.eml"
    eml.write_bytes(
        make_mail(
            subject="【技术】五轴联动数控机床",
            attachments=[("IMG_0012.jpg", make_jpeg(width=640, height=480), "image/jpeg")],
        )
    )
    out = mailflow(home, "rules", "test", str(eml)).stdout
    assert "✓ submission-technology -> submission/technology" in out
    assert "✗ registration -> registration" in out and "matches none of" in out
    assert "intent: submission, category technology" in out
    assert "照片 IMG_0012.jpg 为 640×480，低于 800×600 的要求" in out


def test_sigterm_mid_backlog_stops_cleanly_and_the_next_start_finishes(home: Path) -> None:
    """GIVEN a backlog WHEN the daemon gets SIGTERM after its first finished message THEN it exits 0,
    every message is either untouched (archived) or final, and the next pass finishes the rest."""
    import sqlite3

    maildir = home / "var" / "Maildir"
    for n in range(40):
        deliver(maildir, make_mail(sender="stranger@example.net", subject=f"第{n}封", message_id=f"<t{n}@x>"))
    env = {k: v for k, v in os.environ.items() if k != "MAILFLOW_CONFIG"}
    proc = subprocess.Popen([sys.executable, "-m", "mailflow", "run"], cwd=home, env=env, stderr=subprocess.PIPE)
    db = home / "var" / "mailflow.db"

    def finished() -> int:
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                return int(conn.execute("SELECT count(*) FROM inbound_message WHERE state != 'archived'").fetchone()[0])
        except sqlite3.OperationalError:
            return 0

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and finished() == 0:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    states = [i["state"] for i in json.loads(mailflow(home, "inbox", "list", "--json", "--limit", "100").stdout)]
    assert set(states) <= {"archived", "held"} and "held" in states
    mailflow(home, "run", "--once")
    states = [i["state"] for i in json.loads(mailflow(home, "inbox", "list", "--json", "--limit", "100").stdout)]
    assert states == ["held"] * 40, "each message once, every one finished"


def test_a_broken_rules_file_stops_every_start_with_exit_2(home: Path) -> None:
    (home / "rules" / "30-local.yaml").write_text(
        "rules:\n  - name: typo\n    intent: submision\n    when:\n      subject: x\n", encoding="utf-8"
    )
    for args in (["run", "--once"], ["check"], ["rules", "test", str(home / "config.yaml")]):
        result = mailflow(home, *args, check=False)
        assert result.returncode == 2, args
        assert "30-local.yaml: rules[0] (typo).intent: 'submision' is handled by no workflow" in result.stderr


def test_run_once_delivers_the_outbox_and_outbox_list_and_retry_show_and_mend_it(home: Path) -> None:
    """GIVEN letters in the outbox WHEN one pass runs THEN the file transport writes them to var/outbox;
    a dead one is listed with its reason, and `outbox retry` sends it on the next pass."""
    from datetime import UTC, datetime

    from mailflow.config import load_settings
    from mailflow.outbound.outbox import Draft, queue
    from mailflow.outbound.render import Rendered
    from mailflow.store import Outbox, Store

    settings = load_settings(home / "config.yaml")
    store = Store.open(settings.database_url)
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    with store.session() as session:
        for n in (1, 2):
            queue(
                session,
                Draft(
                    key=f"test:{n}",
                    kind="ack_submission",
                    recipients=[f"l{n}@hongda.cn"],
                    rendered=Rendered(f"【已收到】BS-2026-000{n}", "正文\n", "<p>正文</p>"),
                ),
                now=now,
                message_id_domain="mailflow.test",
            )
    with store.session() as session:
        dead = session.get(Outbox, 2)
        assert dead is not None
        dead.state, dead.last_error = "dead", "550 5.1.1 no such user"
    store.close()
    assert "sent 1" in mailflow(home, "run", "--once").stdout
    assert len(list((home / "var" / "outbox").glob("*.eml"))) == 1
    items = json.loads(mailflow(home, "outbox", "list", "--json").stdout)
    assert [(i["state"], i["last_error"]) for i in items] == [("sent", None), ("dead", "550 5.1.1 no such user")]
    listing = mailflow(home, "outbox", "list", "--state", "dead").stdout
    assert listing.startswith("2\tdead\t") and "550 5.1.1 no such user" in listing
    assert "#2: queued" in mailflow(home, "outbox", "retry", "2").stdout
    assert "sent 1" in mailflow(home, "run", "--once").stdout
    assert len(list((home / "var" / "outbox").glob("*.eml"))) == 2
    assert mailflow(home, "outbox", "retry", "99", check=False).returncode == 1
    assert json.loads(mailflow(home, "status", "--json").stdout)["outbox"]["sent"] == 2
