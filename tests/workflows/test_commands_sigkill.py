"""A command mail runs once whatever happens to the process: a real daemon is killed (SIGKILL)
again and again while it works through a backlog of secretariat commands; after a final pass
every command ran exactly once, is audited once, and has exactly one report."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from builders import LIAISON, OUR_SERVER, PASSED, SECRETARIAT, add_liaison, deliver, make_app, make_mail, write_config
from processes import kill_daemon_at

from mailflow.outbound.outbox import Draft, queue
from mailflow.outbound.render import Rendered
from mailflow.store import OutboxState

N = 120


@pytest.mark.slow
def test_sigkill_while_running_commands_runs_each_exactly_once(tmp_path: Path) -> None:
    security = {"trusted_authserv_ids": [OUR_SERVER]}
    config = write_config(tmp_path, security=security)
    app = make_app(tmp_path, security=security)
    add_liaison(app)
    dead: list[int] = []
    with app.store.session() as session:
        for n in range(N):
            rendered = Rendered(f"【通知】{n}", "正文", "<p>正文</p>")
            row = queue(
                session,
                Draft(key=f"notice:{n}", kind="notice", recipients=[LIAISON], rendered=rendered),
                now=app.clock.now(),
                message_id_domain="mailflow.chamber.example.org",
            )
            row.state = OutboxState.DEAD
            session.flush()
            dead.append(row.id or 0)
    app.close()
    for n, row_id in enumerate(dead):
        raw = make_mail(
            sender=SECRETARIAT,
            subject=f"指令 {n}",
            body=f"#重发 {row_id}\n#查询 #{row_id}",
            headers={"Authentication-Results": PASSED},
            message_id=f"<command-{n}@chamber.example.org>",
        )
        deliver(tmp_path / "Maildir", raw)

    db = tmp_path / "mailflow.db"
    audited = "SELECT count(*) FROM audit_entry"
    claimed = "SELECT count(*) FROM inbound_message WHERE attempts > 0"
    # The first kill comes as a batch is claimed, before its work commits; the batch's messages are
    # then claimed one at a time, and the next kills land between and inside their commits.
    points = [(claimed, 1), (audited, 20), (audited, 90), (audited, 160), (audited, 220)]
    kills = kill_daemon_at(config, db, points, done=(audited, 2 * N))
    assert kills >= 3, "the backlog must be long enough to kill the daemon several times"
    final = subprocess.run(
        [sys.executable, "-m", "mailflow", "run", "--once", "--config", str(config)], capture_output=True, check=False
    )
    assert final.returncode in (0, 1), final.stderr.decode()[-2000:]

    with sqlite3.connect(db) as conn:
        per_mail = conn.execute(
            "SELECT inbound_id, count(*) FROM audit_entry GROUP BY inbound_id HAVING count(*) != 2"
        ).fetchall()
        audits = conn.execute("SELECT count(*) FROM audit_entry WHERE ok").fetchone()[0]
        commands = conn.execute("SELECT count(*) FROM inbound_message WHERE intent = 'command'").fetchone()[0]
        reports = conn.execute("SELECT count(*) FROM outbox WHERE kind = 'command_report'").fetchone()[0]
        requeued = conn.execute("SELECT count(*) FROM outbox WHERE kind = 'notice' AND state = 'dead'").fetchone()[0]
    assert commands == N and per_mail == [], "every command mail audited exactly once, both of its lines"
    assert audits == 2 * N and reports == N
    assert requeued == 0, "every dead letter was sent again"
