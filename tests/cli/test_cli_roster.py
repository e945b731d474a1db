"""`mailflow roster send`: GIVEN active liaisons WHEN the secretariat sends the roster by hand THEN the letters
are queued once; a second send finds nothing changed and sends nothing unless --force; each is audited."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from builders import make_app, write_config
from sqlmodel import col, select

from mailflow.store import Liaison, Outbox, Unit

Y = datetime.now(ZoneInfo("Asia/Shanghai")).year  # the command line runs on the system clock


def mailflow(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailflow", *args, "--config", str(config)], capture_output=True, text=True, check=False
    )


def test_send_now_then_unchanged_then_forced_each_audited(tmp_path: Path) -> None:
    config = write_config(tmp_path, chamber={"name": "成都市机械制造业商会"})
    app = make_app(tmp_path)
    with app.store.session() as session:
        for n in range(3):
            unit = Unit(name=f"成都第{n}机械有限公司", code=f"U{n}")
            session.add(unit)
            session.flush()
            session.add(Liaison(unit_id=unit.id or 0, name=f"联络员{n}", email=f"liaison{n}@u{n}.cn"))
    app.close()

    first = mailflow(config, "roster", "send")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"MC-{Y}-0001：名录已印发，3 封信已排队（3 家单位、3 名联络员）")
    again = mailflow(config, "roster", "send")
    assert again.returncode == 0 and again.stdout.startswith(f"名录自 MC-{Y}-0001（")
    assert "以来没有变化，未发送（如需重发，请加 --force）" in again.stdout
    forced = mailflow(config, "roster", "send", "--force")
    assert forced.returncode == 0 and forced.stdout.startswith(f"MC-{Y}-0002：名录已印发，3 封信已排队")

    app = make_app(tmp_path)
    with app.store.session() as session:
        keys = session.exec(select(Outbox.dedupe_key).order_by(col(Outbox.id))).all()
    app.close()
    assert keys == [f"roster:MC-{Y}-{i:04d}:liaison{n}@u{n}.cn" for i in (1, 2) for n in range(3)]
    audit = json.loads(mailflow(config, "audit", "list", "--json").stdout)
    assert [(a["line"], a["ok"], a["record"], a["via"]) for a in audit] == [
        ("mailflow roster send", True, f"MC-{Y}-0001", "cli"),
        ("mailflow roster send", False, f"MC-{Y}-0001", "cli"),
        ("mailflow roster send --force", True, f"MC-{Y}-0002", "cli"),
    ]
    assert all(a["command"] == "roster-send" and a["actor"].startswith("cli:") for a in audit)
