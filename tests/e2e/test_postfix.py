"""End to end through a real MTA: a private Postfix on 127.0.0.1 (local delivery only) carries a
liaison's mail into the secretariat's Maildir, which a real `mailflow run --once` reads; mailflow's
answers go back through the same Postfix by SMTP, into the liaison's Maildir; a letter to a
mailbox that does not exist comes back as Postfix's own report (RFC 3464), or is refused at
RCPT TO, and either way the address is flagged.
"""

from __future__ import annotations

import email
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from builders import LIAISON, SECRETARIAT, add_liaison, make_app, make_mail, write_config
from servers.postfix import PostfixServer

DOMAINS = ("chamber.example.org", "hongda-machinery.cn")
MISSING = "zhaolei@hongda-machinery.cn"  # a liaison on the roster whose mailbox does not exist
SUBJECT = "【报送】我公司参加2026中国机械工业博览会"


class Home:
    """A mailflow home that reads the secretariat's Maildir and sends through `postfix`."""

    def __init__(self, tmp: Path, postfix: PostfixServer) -> None:
        self.tmp, self.postfix = tmp, postfix
        source = {
            "name": "secretariat",
            "kind": "maildir",
            "path": str(postfix.maildir(SECRETARIAT)),
            "start_from": "all",
        }
        smtp = {"host": postfix.host, "port": postfix.port, "security": "none", "timeout": 5, "data_timeout": 10}
        outbound = {"transport": "smtp", "from_address": SECRETARIAT, "smtp": smtp}
        self.sections: dict[str, Any] = {"sources": [source], "outbound": outbound}
        self.config = write_config(tmp, **self.sections)
        app = make_app(tmp, **self.sections)  # the schema and the roster
        add_liaison(app)
        add_liaison(app, email=MISSING, unit="宏达机械销售有限公司", code="HD002")
        app.close()

    def liaison_writes(self, sender: str, n: int) -> str:
        """`sender` mails a submission to the secretariat through Postfix; returns its Message-ID."""
        message_id = f"postfix-{n}@hongda-machinery.cn"
        raw = make_mail(sender=sender, subject=f"{SUBJECT}（{n}）", message_id=f"<{message_id}>")
        self.postfix.send(raw, sender=sender, recipients=[SECRETARIAT], helo="mail.hongda-machinery.cn")
        self.postfix.wait_for(SECRETARIAT, lambda raw: message_id.encode() in raw)
        return message_id

    def run_once(self) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "mailflow", "run", "--once", "--config", str(self.config)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with sqlite3.connect(f"file:{self.tmp / 'mailflow.db'}?mode=ro", uri=True, timeout=5) as conn:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(sql, args))

    def letter_to(self, address: str) -> sqlite3.Row:
        (row,) = [r for r in self.query("SELECT * FROM outbox WHERE kind != 'digest'") if address in r["recipients"]]
        return row

    def flag(self, address: str) -> sqlite3.Row | None:
        found = self.query("SELECT * FROM address_flag WHERE email = ?", address)
        return found[0] if found else None


def decoded_subject(msg: Message) -> str:
    return str(make_header(decode_header(msg["Subject"])))


def text_of(msg: Message) -> str:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8")


def is_report(raw: bytes) -> bool:
    return email.message_from_bytes(raw).get_content_type() == "multipart/report"


def this_year() -> int:
    return datetime.now(ZoneInfo("Asia/Shanghai")).year


@pytest.mark.slow
def test_an_acknowledgement_and_a_bounce_go_through_a_real_postfix(
    tmp_path: Path, postfix: Callable[..., PostfixServer]
) -> None:
    """GIVEN Postfix accepting mail for any local address (`local_recipient_maps =`), and a roster
    with a liaison whose mailbox does not exist,
    WHEN a liaison's submission arrives through Postfix and `mailflow run --once` runs,
    THEN Postfix delivers the acknowledgement to the liaison's Maildir, readable and threaded;
    WHEN the liaison without a mailbox writes,
    THEN Postfix bounces our answer with its own RFC 3464 report into the secretariat's Maildir,
    and the next pass marks that letter bounced and flags the address."""
    server = postfix(domains=DOMAINS, mailboxes=[SECRETARIAT, LIAISON], accept_unknown=True)
    home = Home(tmp_path, server)
    original = home.liaison_writes(LIAISON, 1)

    assert "sent 1" in home.run_once()

    ack = email.message_from_bytes(server.wait_for(LIAISON))
    reference = f"BS-{this_year()}-0001"
    assert decoded_subject(ack) == f"【已收到】{reference} {SUBJECT.removeprefix('【报送】')}（1）"
    assert ack["In-Reply-To"] == f"<{original}>" and ack["References"] == f"<{original}>"
    assert f"登记编号为 {reference}" in text_of(ack)
    assert ack["Return-Path"] == f"<{SECRETARIAT}>"  # the envelope sender, which bounces come back to

    home.liaison_writes(MISSING, 2)
    home.run_once()
    report = email.message_from_bytes(server.wait_for(SECRETARIAT, is_report))
    assert report["From"].startswith("Mail Delivery System <MAILER-DAEMON@")
    assert "Status: 5.1.1" in report.as_string()

    home.run_once()
    letter = home.letter_to(MISSING)
    assert letter["state"] == "bounced" and "5.1.1" in letter["last_error"], dict(letter)
    flag = home.flag(MISSING)
    assert flag is not None and "5.1.1" in flag["reason"], "the address is flagged"
    assert home.letter_to(LIAISON)["state"] == "sent"


@pytest.mark.slow
def test_a_letter_postfix_refuses_at_rcpt_is_dead_and_flags_the_address(
    tmp_path: Path, postfix: Callable[..., PostfixServer]
) -> None:
    """GIVEN Postfix as configured by default, refusing an unknown local address at RCPT TO,
    WHEN a liaison without a mailbox writes and `mailflow run --once` answers,
    THEN the answer is dead at once with Postfix's 550 5.1.1, the address is flagged, and no
    report comes back (Postfix never took the letter)."""
    server = postfix(domains=DOMAINS, mailboxes=[SECRETARIAT, LIAISON])
    home = Home(tmp_path, server)
    home.liaison_writes(MISSING, 1)

    home.run_once()

    letter = home.letter_to(MISSING)
    assert (letter["state"], letter["attempts"]) == ("dead", 1), dict(letter)
    assert letter["last_error"].startswith("550 5.1.1 ") and "User unknown" in letter["last_error"]
    flag = home.flag(MISSING)
    assert flag is not None and flag["reason"].startswith("550 5.1.1")
    assert not [raw for raw in server.delivered(SECRETARIAT) if is_report(raw)]
    assert "NOQUEUE: reject: RCPT" in server.log_text
