"""GIVEN a broken template WHEN `mailflow run` starts THEN it refuses (exit 2), naming the template and line,
before any message is taken: a template that cannot render would fail every message that needs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import deliver, make_mail

SYNTAX_ERROR = ("unknown_sender.j2", "{{ email }}", "{{ email }", "unknown_sender.j2 line 5")
UNDEFINED_NAME = ("rejection.j2", "{{ name }}：", "{{ nmae }}：", "rejection.j2 line 3: 'nmae' is undefined")


def mailflow(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILFLOW_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "mailflow", *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """After `mailflow init`, with a stranger's mail waiting in the Maildir."""
    assert mailflow(tmp_path, "init").returncode == 0
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("start_from: first_start", "start_from: all", 1))
    deliver(tmp_path / "var" / "Maildir", make_mail(sender="stranger@example.net"))
    return tmp_path


def break_template(home: Path, name: str, good: str, bad: str, locale: str = "zh-CN") -> None:
    path = home / "templates" / locale / name
    text = path.read_text(encoding="utf-8")
    assert good in text
    path.write_text(text.replace(good, bad, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("broken", "args"),
    [
        (SYNTAX_ERROR, ("run", "--once")),
        (UNDEFINED_NAME, ("run", "--once")),
        (SYNTAX_ERROR, ("run",)),
    ],
    ids=["syntax error, run --once", "undefined name, run --once", "syntax error, run"],
)
def test_run_refuses_to_start_with_a_broken_template(
    home: Path, broken: tuple[str, str, str, str], args: tuple[str, ...]
) -> None:
    """GIVEN a template with a mistake and mail waiting WHEN run starts THEN it exits 2 naming the
    template and its line, and the mail is not taken: still in the Maildir, no message recorded."""
    name, good, bad, named = broken
    break_template(home, name, good, bad)
    result = mailflow(home, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"zh-CN/{named}" in result.stderr
    assert len(list((home / "var" / "Maildir" / "new").iterdir())) == 1, "the waiting mail was not taken"
    assert json.loads(mailflow(home, "inbox", "list", "--json").stdout) == []


def test_a_broken_template_of_a_locale_run_does_not_write_in_is_no_reason_to_stop(home: Path) -> None:
    """GIVEN a mistake in an English template and the chamber writing in zh-CN WHEN run --once starts
    THEN it runs: no letter it writes would fail (`mailflow check` still reports it)."""
    break_template(home, *SYNTAX_ERROR[:3], locale="en")
    result = mailflow(home, "run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "processed 1" in result.stdout
