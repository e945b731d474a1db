"""Exactly once across SIGKILL: a real daemon process is killed again and again in the middle
of a backlog on a real IMAP server; after a final pass every message is stored exactly once,
every one is in a final state, and every one was moved exactly once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from builders import add_liaison, make_app, make_jpeg, make_mail, write_config
from processes import kill_daemon_at

PASSWORD_ENV = "MAILFLOW_TEST_IMAP_PASSWORD"
N = 240


def backlog() -> list[bytes]:
    photo = make_jpeg(width=1024, height=768)
    mails = []
    for n in range(N):
        attachments = [("现场照片.jpg", photo, "image/jpeg")] if n % 5 == 0 else None
        subject = f"【报送】第{n}期工作动态" if n % 7 else f"咨询事项{n}"
        mails.append(make_mail(subject=subject, attachments=attachments, message_id=f"<backlog-{n}@hongda.cn>"))
    return mails


@pytest.mark.slow
def test_sigkill_mid_backlog_loses_nothing_and_repeats_nothing(tmp_path: Path, imap_server: Any) -> None:
    source = {
        "name": "box",
        "kind": "imap",
        "host": imap_server.host,
        "port": imap_server.port,
        "security": "none",
        "user": imap_server.user,
        "password_env": PASSWORD_ENV,
        "start_from": "all",
        "poll_interval": 1,
        "fetch_batch": 7,
    }
    config = write_config(tmp_path, sources=[source])
    db = tmp_path / "mailflow.db"
    for raw in backlog():
        imap_server.append(raw)
    env = {**os.environ, PASSWORD_ENV: imap_server.password}
    # The liaison must exist before the first pass: create the schema and the roster first.
    app = make_app(tmp_path, sources=[source])
    add_liaison(app)
    app.close()

    archived = "SELECT count(*) FROM inbound_message"
    finished = "SELECT count(*) FROM inbound_message WHERE state != 'archived'"
    # Kill points alternate between ingest (rows being archived) and the pipeline (rows
    # being finished), so both crash windows are hit.
    kill_points = [(archived, 15), (finished, 40), (archived, 110), (finished, 130), (archived, 200), (finished, 215)]
    kills = kill_daemon_at(config, db, kill_points, done=(finished, N), env=env)
    assert kills >= 4, "the backlog must be long enough to kill the daemon several times"

    final = subprocess.run(
        [sys.executable, "-m", "mailflow", "run", "--once", "--config", str(config)],
        check=False,
        env=env,
        capture_output=True,
    )
    assert final.returncode == 0, final.stderr.decode()[-2000:]

    with sqlite3.connect(db) as conn:
        ids = [r[0] for r in conn.execute("SELECT message_id FROM inbound_message")]
        states = dict(conn.execute("SELECT state, count(*) FROM inbound_message GROUP BY state").fetchall())
        refs = [r[0] for r in conn.execute("SELECT reference FROM submission ORDER BY reference")]
        processed_submissions = conn.execute(
            "SELECT count(*) FROM inbound_message WHERE state='processed' AND intent='submission'"
        ).fetchone()[0]
    assert len(ids) == N and len(set(ids)) == N, "every message stored exactly once"
    assert "archived" not in states, f"every message in a final state: {states}"
    unknown = len(range(0, N, 7))  # "咨询事项" matches no rule: held for the secretariat
    assert states == {"processed": N - unknown, "held": unknown}
    # Each submission got exactly one reference, numbered without gaps: no work done twice.
    assert len(refs) == processed_submissions
    numbers = sorted(int(r.rsplit("-", 1)[1]) for r in refs)
    assert numbers == list(range(1, len(refs) + 1))
    assert imap_server.uids("INBOX") == []
    assert len(imap_server.uids("Processed")) == N, "every message moved exactly once"
