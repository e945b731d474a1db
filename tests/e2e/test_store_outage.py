"""GIVEN a real `mailflow run` WHEN another process holds the SQLite database's write lock THEN the
daemon stays up, says once that it waits, `status` answers within seconds and shows why, and when
the lock goes the mail that came meanwhile is answered with no attempt counted against it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from builders import deliver, make_mail, write_config

WAITING = "database or data folder unavailable, waiting to retry"
BACK = "database and data folder available again"


def wait_until(predicate: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, f"the daemon exited with {proc.returncode}"
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def rows(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return list(conn.execute("SELECT state, attempts FROM inbound_message ORDER BY id"))


@pytest.mark.slow
def test_a_database_locked_by_another_process_makes_the_daemon_wait_not_fail(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        sources=[
            {
                "name": "local",
                "kind": "maildir",
                "path": str(tmp_path / "Maildir"),
                "poll_interval": 0.2,
                "start_from": "all",
            }
        ],
        database={"busy_timeout": 0.3},
        daemon={"reconnect_max_seconds": 1},
        outbound={"transport": "file", "folder": str(tmp_path / "outbox")},
    )
    db = tmp_path / "mailflow.db"
    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "--log-level", "INFO", "run", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    text = lambda: (tmp_path / "daemon.log").read_text(errors="replace")  # noqa: E731
    locker = sqlite3.connect(db, isolation_level=None, timeout=30)
    try:
        wait_until(lambda: "watching new folder" in text(), daemon)  # the first pass is done
        locker.execute("BEGIN IMMEDIATE")  # held as long as this test says, as another program would
        deliver(tmp_path / "Maildir", make_mail(sender="someone@example.net", message_id="<during@x>"))
        wait_until(lambda: WAITING in text(), daemon)

        started = time.monotonic()
        status = subprocess.run(
            [sys.executable, "-m", "mailflow", "status", "--json", "--config", str(config)],
            check=False,
            capture_output=True,
            timeout=20,
        )
        assert time.monotonic() - started < 10
        health = json.loads(status.stdout)["health"]
        assert "locked" in (health["daemon_waiting_for_store"] or ""), status.stdout
        check = subprocess.run(
            [sys.executable, "-m", "mailflow", "check", "--config", str(config)],
            check=False,
            capture_output=True,
            timeout=30,
        )
        assert check.returncode == 1 and b"database cannot take a write" in check.stdout

        wait_until(lambda: text().count("retrying") >= 0 and time.monotonic() - started > 3, daemon)
        assert daemon.poll() is None
        # One line when it began, from the daemon and at most one from its sender; no traceback.
        assert text().count(f"mailflow.store {WAITING}") == 1 and text().count(f"sender: {WAITING}") <= 1
        assert "Traceback" not in text()

        locker.execute("ROLLBACK")
        wait_until(lambda: db.exists() and [state for state, _ in rows(db)] == ["held"], daemon)
        wait_until(lambda: BACK in text(), daemon)
        assert rows(db) == [("held", 1)]  # answered once, and the outage cost it no attempt
        wait_until(lambda: any((tmp_path / "outbox").glob("*.eml")), daemon)
    finally:
        locker.close()
        daemon.terminate()
        daemon.wait(timeout=30)
        log.close()
    status = subprocess.run(
        [sys.executable, "-m", "mailflow", "status", "--json", "--config", str(config)],
        check=False,
        capture_output=True,
        timeout=20,
    )
    assert json.loads(status.stdout)["health"]["daemon_waiting_for_store"] is None
