"""A circular goes once to each address whatever happens to the process: a real daemon is killed
(SIGKILL) again and again while it works through a backlog of circular mails; after a final pass
every circular was recorded once, with exactly one letter per liaison and one report."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from builders import OUR_SERVER, PASSED, SECRETARIAT, deliver, make_app, make_mail, write_config
from processes import kill_daemon_at

from mailflow.store import Liaison, Unit

CIRCULARS = 40
UNITS = 30


@pytest.mark.slow
def test_sigkill_while_queuing_circulars_sends_each_once_to_each_address(tmp_path: Path) -> None:
    security = {"trusted_authserv_ids": [OUR_SERVER]}
    config = write_config(tmp_path, security=security)
    app = make_app(tmp_path, security=security)
    with app.store.session() as session:
        for n in range(UNITS):
            unit = Unit(name=f"第{n}机械有限公司", code=f"U{n:03d}")
            session.add(unit)
            session.flush()
            session.add(Liaison(unit_id=unit.id or 0, name=f"联络员{n}", email=f"liaison{n}@unit{n}.cn"))
    app.close()
    for n in range(CIRCULARS):
        raw = make_mail(
            sender=SECRETARIAT,
            to="mishuchu+tongzhi@chamber.example.org",
            subject=f"第{n}号通知",
            body=f"各位联络员：\n\n这是第{n}号通知。",
            attachments=[(f"附件{n}.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n", "application/pdf")],
            headers={"Authentication-Results": PASSED},
            message_id=f"<circular-{n}@chamber.example.org>",
        )
        deliver(tmp_path / "Maildir", raw)

    db = tmp_path / "mailflow.db"
    recorded = "SELECT count(*) FROM circular"
    claimed = "SELECT count(*) FROM inbound_message WHERE attempts > 0"
    # The first kill comes as the batch is claimed, before its work commits; its mails are then
    # claimed one at a time, and the next kills land between and inside their commits.
    points = [(claimed, 1), (recorded, 5), (recorded, 14), (recorded, 23), (recorded, 33)]
    kills = kill_daemon_at(config, db, points, done=(recorded, CIRCULARS))
    assert kills >= 3, "the backlog must be long enough to kill the daemon several times"
    final = subprocess.run(
        [sys.executable, "-m", "mailflow", "run", "--once", "--config", str(config)], capture_output=True, check=False
    )
    assert final.returncode in (0, 1), final.stderr.decode()[-2000:]

    with sqlite3.connect(db) as conn:
        mails = conn.execute("SELECT count(*) FROM inbound_message WHERE intent = 'circular'").fetchone()[0]
        circulars = conn.execute("SELECT count(DISTINCT inbound_id), count(*) FROM circular").fetchone()
        per_circular = conn.execute(
            "SELECT reference, count(*) FROM outbox WHERE kind = 'circular' GROUP BY reference"
        ).fetchall()
        addresses = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT reference, recipients FROM outbox WHERE kind = 'circular')"
        ).fetchone()[0]
        reports = conn.execute("SELECT count(*) FROM outbox WHERE kind = 'circular_report'").fetchone()[0]
        parts = conn.execute("SELECT count(*) FROM outbox_part").fetchone()[0]
    assert mails == CIRCULARS and tuple(circulars) == (CIRCULARS, CIRCULARS)
    assert len(per_circular) == CIRCULARS and {count for _, count in per_circular} == {UNITS}
    assert addresses == CIRCULARS * UNITS, "no address got one circular twice"
    assert reports == CIRCULARS and parts == CIRCULARS * UNITS
