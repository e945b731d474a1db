"""End to end on real servers: a liaison's mail appended to a real IMAP server, a real `mailflow run`
process with IDLE, and the acknowledgement received by a real SMTP server (aiosmtpd) on 127.0.0.1.

Then the sender is killed (SIGKILL) at each step of a delivery, and we check the delivery
guarantee the README states: no letter is ever delivered twice on mailflow's own initiative,
none is lost (each is sent, or ambiguous and listed until a person resends it), and a person's
`outbox retry` delivers it.
"""

from __future__ import annotations

import email
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time as clock
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from builders import LIAISON, add_liaison, make_app, make_mail, write_config
from processes import children, running
from servers.smtp import DropsAtData, Recorder

from mailflow.clock import FixedClock

PASSWORD_ENV = "MAILFLOW_TEST_IMAP_PASSWORD"
SHANGHAI = ZoneInfo("Asia/Shanghai")
SUBJECT = "【报送】我公司参加2026中国机械工业博览会"


class Setup:
    """A configured mailflow home: an IMAP source, SMTP delivery, the roster; and ways to run it."""

    def __init__(self, tmp: Path, imap: Any, smtp_port: int, *, concurrency: int = 1) -> None:
        self.concurrency = concurrency
        self.tmp, self.imap = tmp, imap
        source = {
            "name": "box",
            "kind": "imap",
            "host": imap.host,
            "port": imap.port,
            "security": "none",
            "user": imap.user,
            "password_env": PASSWORD_ENV,
            "start_from": "all",
            "poll_interval": 30,
            "idle": True,
        }
        outbound = {
            "transport": "smtp",
            "from_address": "mishuchu@chamber.example.org",
            "retry_base_seconds": 0.2,
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "security": "none",
                "timeout": 5,
                "data_timeout": 10,
                "concurrency": concurrency,
            },
        }
        self.sections = {"sources": [source], "outbound": outbound}
        self.config = write_config(tmp, **self.sections)
        self.db = tmp / "mailflow.db"
        self.env = {**os.environ, PASSWORD_ENV: imap.password}
        app = make_app(tmp, **self.sections)  # the schema and the roster, before the first pass
        add_liaison(app)
        app.close()

    def daemon(self) -> subprocess.Popen[bytes]:
        """`mailflow run` in a process group of its own, which its sender process joins."""
        return subprocess.Popen(
            [sys.executable, "-m", "mailflow", "run", "--config", str(self.config)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "mailflow", *args, "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode in (0, 1), result.stderr
        return result.stdout

    def rows(self) -> list[dict[str, Any]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as conn:
            conn.row_factory = sqlite3.Row
            try:
                return [dict(r) for r in conn.execute("SELECT * FROM outbox WHERE kind != 'digest' ORDER BY id")]
            except sqlite3.OperationalError:
                return []

    def append(self, n: int) -> str:
        message_id = f"e2e-{n}@hongda-machinery.cn"
        self.imap.append(make_mail(subject=f"{SUBJECT}（{n}）", message_id=f"<{message_id}>"))
        return message_id


def wait_until(predicate: Callable[[], bool], proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the daemon exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        clock.sleep(0.02)
    raise AssertionError("timed out")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def received(recorder: Recorder) -> list[Message]:
    return [email.message_from_bytes(raw) for raw in recorder.received]


def subject(msg: Message) -> str:
    return str(make_header(decode_header(msg["Subject"])))


@pytest.mark.slow
def test_a_liaison_mail_is_acknowledged_through_real_servers(
    tmp_path: Path, imap_server: Any, smtp_server: Any
) -> None:
    recorder, port = smtp_server
    setup = Setup(tmp_path, imap_server, port)
    daemon = setup.daemon()
    try:
        # IDLE is on: the first pass is done when the folder's state is recorded.
        wait_until(lambda: setup.db.exists() and _folder_seen(setup.db), daemon)
        original = setup.append(1)
        wait_until(lambda: len(recorder.received) == 1, daemon)
        (ack,) = received(recorder)
        assert subject(ack) == f"【已收到】BS-2026-0001 {SUBJECT.removeprefix('【报送】')}（1）"
        assert ack["To"] == LIAISON and ack["In-Reply-To"] == f"<{original}>" and ack["References"] == f"<{original}>"
        assert ack["Auto-Submitted"] == "auto-replied"
        body = next(p for p in ack.walk() if p.get_content_type() == "text/plain").get_payload(decode=True)
        assert "登记编号为 BS-2026-0001" in body.decode("utf-8")

        # 451, then 250: delivered once, on the second attempt.
        recorder.replies = ["451 4.3.0 try again later"]
        setup.append(2)
        wait_until(lambda: len(recorder.received) == 2, daemon)
        wait_until(lambda: setup.rows()[1]["state"] == "sent", daemon)
        assert setup.rows()[1]["attempts"] == 2

        # The connection drops before the final dot: retried, delivered once.
        DropsAtData.drops = 1
        setup.append(3)
        wait_until(lambda: len(recorder.received) == 3, daemon)
        wait_until(lambda: setup.rows()[2]["state"] == "sent", daemon)
        assert setup.rows()[2]["attempts"] == 2

        # 550: dead at once, with the server's reason.
        recorder.replies = ["550 5.7.1 mailbox unavailable"]
        setup.append(4)
        wait_until(lambda: len(setup.rows()) == 4 and setup.rows()[3]["state"] == "dead", daemon)
    finally:
        stop(daemon)
    assert [subject(m).split()[0] for m in received(recorder)] == [
        "【已收到】BS-2026-0001",
        "【已收到】BS-2026-0002",
        "【已收到】BS-2026-0003",
    ]
    dead = setup.rows()[3]
    assert (dead["attempts"], dead["last_error"]) == (1, "550 5.7.1 mailbox unavailable")
    listed = json.loads(setup.cli("outbox", "list", "--json", "--state", "dead"))
    assert [(r["id"], r["last_error"]) for r in listed] == [(dead["id"], "550 5.7.1 mailbox unavailable")]

    # And the secretariat reads it in the next digest (tomorrow morning; the daemon's start was today).
    tomorrow = datetime.now(SHANGHAI).date() + timedelta(days=1)
    morning = datetime.combine(tomorrow, time(8, 31), tzinfo=SHANGHAI)
    app = make_app(tmp_path, clock=FixedClock(morning), **setup.sections)
    assert "digest" in app.scheduler.run_due()
    app.close()
    digest = json.loads(setup.cli("outbox", "list", "--json"))
    (row,) = [r for r in digest if r["subject"].startswith("【每日摘要】")]
    assert row  # queued; its text names the dead letter with the command that resends it
    text = _outbox_text(setup.db, row["id"])
    assert f"发送失败：550 5.7.1 mailbox unavailable | #重发 {dead['id']} |" in text


@pytest.mark.slow
@pytest.mark.parametrize("step", ["mail", "data", "dot", "reply", "after"])
def test_a_sender_killed_at_any_step_never_sends_twice_and_loses_nothing(
    tmp_path: Path, imap_server: Any, smtp_server: Any, step: str
) -> None:
    recorder, port = smtp_server
    setup = Setup(tmp_path, imap_server, port, concurrency=2 if step == "reply" else 1)
    setup.append(1)
    setup.append(2)
    recorder.kill_at = None if step == "after" else step
    daemon = setup.daemon()
    # The daemon's group: the daemon and its sender die at the same instant.
    recorder.victim = lambda: os.killpg(daemon.pid, signal.SIGKILL)
    try:
        if step == "after":  # killed when both letters are recorded as sent
            wait_until(lambda: [r["state"] for r in setup.rows()] == ["sent", "sent"], daemon)
            os.killpg(daemon.pid, signal.SIGKILL)
        assert daemon.wait(timeout=60) == -signal.SIGKILL
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert recorder.kill_at is None, "the kill point was reached"
    first_copies = [m["Message-ID"] for m in received(recorder)]

    # A restart: what was being handed over is ambiguous; the rest goes out.
    setup.cli("run", "--once")
    setup.cli("run", "--once")
    rows = setup.rows()
    by_id = {f"<{r['message_id']}>": r for r in rows}
    copies = [m["Message-ID"] for m in received(recorder)]
    assert len(copies) == len(set(copies)), "no letter was delivered twice"
    assert set(first_copies) <= set(copies)
    for message_id, row in by_id.items():
        assert row["state"] in ("sent", "ambiguous"), row
        if row["state"] == "sent":
            assert copies.count(message_id) == 1
    ambiguous = [r for r in rows if r["state"] == "ambiguous"]
    # Both letters were taken when the sender died; only one whose final dot reached the server is
    # ambiguous (at most one per connection): a letter that never got that far was simply sent
    # after the restart, so its liaison is answered.
    assert len(ambiguous) <= setup.concurrency
    dots = {email.message_from_bytes(raw)["Message-ID"] for raw in recorder.dots}
    assert {f"<{r['message_id']}>" for r in ambiguous} <= dots
    if step in ("dot", "reply"):  # the server had one letter (whichever came first) when the sender died
        had = first_copies[0]
        assert copies.count(had) == 1
    if step == "reply":
        # The other letter was at its final dot: nobody knows. The first was answered 250 and not
        # yet recorded: sent when the sender had read that answer and noted it in the journal,
        # ambiguous when the answer was still on its way.
        (at_dot,) = [m for m in by_id if m not in first_copies]
        assert by_id[at_dot]["state"] == "ambiguous" and by_id[had]["state"] in ("sent", "ambiguous")
    else:
        assert len(ambiguous) == {"mail": 0, "data": 0, "dot": 1, "after": 0}[step]
        if step == "dot":  # its answer never came
            assert by_id[had]["state"] == "ambiguous"
    listed = json.loads(setup.cli("outbox", "list", "--json", "--state", "ambiguous"))
    assert sorted(r["id"] for r in listed) == sorted(r["id"] for r in ambiguous)

    # Only a person's word sends an ambiguous letter again; then it is delivered once more.
    before = len(recorder.received)
    for row in ambiguous:
        setup.cli("outbox", "retry", str(row["id"]))
    setup.cli("run", "--once")
    assert [r["state"] for r in setup.rows()] == ["sent", "sent"]
    assert len(recorder.received) == before + len(ambiguous)


def _folder_seen(db: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return bool(conn.execute("SELECT count(*) FROM folder_state WHERE first_seen_at IS NOT NULL").fetchone()[0])
    except sqlite3.OperationalError:
        return False


def _outbox_text(db: Path, row_id: int) -> str:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return str(conn.execute("SELECT text FROM outbox WHERE id = ?", (row_id,)).fetchone()[0])


@pytest.mark.slow
def test_a_daemon_killed_alone_takes_its_sender_with_it(tmp_path: Path, imap_server: Any, smtp_server: Any) -> None:
    """GIVEN `mailflow run`, which sends from a process of its own, WHEN only the daemon's own
    process is killed with SIGKILL, THEN every process it forked dies with it (none is left to
    send beside the next daemon), and the next start answers what came meanwhile, once."""
    recorder, port = smtp_server
    setup = Setup(tmp_path, imap_server, port)
    setup.append(1)
    daemon = setup.daemon()
    try:
        wait_until(lambda: [r["state"] for r in setup.rows()] == ["sent"], daemon)
        forked = children(daemon.pid)
        assert forked, "the daemon sends from a process of its own"
        daemon.send_signal(signal.SIGKILL)
        assert daemon.wait(timeout=30) == -signal.SIGKILL
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    wait_until(lambda: not any(running(pid) for pid in forked))

    setup.append(2)
    setup.cli("run", "--once")
    assert [r["state"] for r in setup.rows()] == ["sent", "sent"]
    copies = [m["Message-ID"] for m in received(recorder)]
    assert len(copies) == 2 == len(set(copies))
