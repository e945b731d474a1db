"""`mailflow demo` on a fresh machine: no mail server, an empty folder, one command."""

from __future__ import annotations

import email
import os
import subprocess
import sys
from collections import Counter
from email.header import decode_header, make_header
from pathlib import Path

from sqlmodel import select

from mailflow.store import InboundMessage, Store


def demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILFLOW_CONFIG"} | {"COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "mailflow", "demo"], check=False, cwd=cwd, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result


def test_the_demo_answers_a_dozen_realistic_emails(tmp_path: Path) -> None:
    result = demo(tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'var' / 'mailflow.db'}")
    with store.session() as session:
        messages = session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()
    store.close()
    assert len(messages) == 12
    assert Counter(m.state for m in messages) == {"processed": 7, "rejected": 1, "held": 2, "ignored": 2}
    # GB18030 and UTF-8 alike read without mojibake.
    subjects = {m.subject for m in messages}
    assert {"【技术】数控系统国产化改造取得突破", "【诉求】关于园区用电保障的情况反映", "咨询入会事宜"} <= subjects
    assert {m.intent for m in messages if m.state == "ignored"} == {"auto_reply", "bounce"}

    written = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    everything = [email.message_from_bytes(p.read_bytes()) for p in written]
    # The registration came with its certificate: the secretariat is told at once, the certificate attached.
    (notice,) = [m for m in everything if "【待审核】" in str(make_header(decode_header(m["Subject"])))]
    assert notice["To"] == "mishuchu@chamber.example.org"
    assert [part.get_content_type() for part in notice.walk() if part.get_filename()] == ["application/pdf"]
    letters = [p for p, m in zip(written, everything, strict=True) if m is not notice]
    assert len(letters) == 9  # 7 acknowledgements, 1 rejection, 1 note to the stranger
    parsed = [m for m in everything if m is not notice]
    subjects = {str(make_header(decode_header(m["Subject"]))) for m in parsed}
    assert (
        "【未能受理】【报送】新产品下线仪式" in subjects
        and "【已收到】BS-2026-0002 数控系统国产化改造取得突破" in subjects
    )
    assert all(m["Auto-Submitted"] == "auto-replied" and m["In-Reply-To"] for m in parsed)

    # The table names each message and its answer, and says where the letters are.
    assert "ack_submission BS-2026-0001" in result.stdout and "unknown_sender" in result.stdout
    assert f"9 answers written as .eml files to {tmp_path / 'var' / 'outbox'}/" in result.stdout
    assert all(str(p) in result.stdout for p in letters)


def test_a_second_demo_shows_the_same_mail_and_sends_nothing_again(tmp_path: Path) -> None:
    demo(tmp_path)
    again = demo(tmp_path)
    assert "demo emails to" not in again.stdout
    assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == 10  # 9 answers, 1 notice
