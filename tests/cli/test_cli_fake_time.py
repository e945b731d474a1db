"""MAILFLOW_NOW: every command acts at the instant it names (a rehearsal), says so, and the daemon refuses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email import message_from_bytes
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from builders import deliver, make_mail


def mailflow(cwd: Path, *args: str, now: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAILFLOW_CONFIG", "MAILFLOW_NOW")}
    if now is not None:
        env["MAILFLOW_NOW"] = now
    return subprocess.run(
        [sys.executable, "-m", "mailflow", *args], check=False, cwd=cwd, capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip


@pytest.fixture
def home(tmp_path: Path) -> Path:
    assert mailflow(tmp_path, "init", now=None).returncode == 0
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("start_from: first_start", "start_from: all", 1))
    return tmp_path


def test_one_pass_answers_at_the_instant_named_in_the_chambers_zone(home: Path) -> None:
    deliver(home / "var" / "Maildir", make_mail(sender="stranger@example.net"))
    result = mailflow(home, "run", "--once", now="2027-03-01T10:00")  # naive: Asia/Shanghai, the configured zone
    assert result.returncode == 0, result.stderr
    assert "MAILFLOW_NOW is set: mailflow acts as if it were 2027-03-01 10:00:00 (Asia/Shanghai)" in result.stderr
    (letter,) = (home / "var" / "outbox").glob("*.eml")
    date = parsedate_to_datetime(message_from_bytes(letter.read_bytes())["Date"])
    assert date.isoformat().startswith("2027-03-01T02:00")  # 10:00 in Shanghai, as UTC; the clock ran on a little
    (row,) = json.loads(mailflow(home, "outbox", "list", "--json", now=None).stdout)
    assert row["state"] == "sent" and row["sent_at"].startswith("2027-03-01T02:0")  # its sender ran on that time too


def test_a_command_from_the_cli_is_audited_at_the_instant_named(home: Path) -> None:
    result = mailflow(home, "do", "#帮助", now="2026-12-15T09:30:00+08:00")
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "2026-12-15 09:30:00" in result.stderr
    (entry,) = json.loads(mailflow(home, "audit", "list", "--json", now=None).stdout)
    assert entry["at"].startswith("2026-12-15T09:30")


def test_the_daemon_refuses_fake_time_unless_allowed(home: Path) -> None:
    result = mailflow(home, "run", now="2026-12-15")
    assert result.returncode == 2
    assert "MAILFLOW_NOW is set" in result.stderr and "--allow-fake-time" in result.stderr
    assert not list((home / "var" / "outbox").glob("*.eml"))


@pytest.mark.parametrize("command", [("status",), ("run", "--once"), ("do", "#帮助")])
def test_a_value_that_is_not_an_instant_fails_every_command_naming_the_variable(
    home: Path, command: tuple[str, ...]
) -> None:
    result = mailflow(home, *command, now="next tuesday")
    assert result.returncode == 2
    assert "MAILFLOW_NOW" in result.stderr and "'next tuesday' is not an ISO 8601 instant" in result.stderr
