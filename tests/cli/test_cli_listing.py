"""`inbox list` and `outbox list`: JSON is for tools and holds every row unless a limit is asked for;
the table, for a person at a terminal, shows the newest 50 unless told otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailflow.config import load_settings
from mailflow.outbound.outbox import Draft, queue
from mailflow.outbound.render import Rendered
from mailflow.store import InboundMessage, Store

ROWS = 60  # more than the table's default of 50
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def mailflow(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MAILFLOW_CONFIG", "COLUMNS")}
    result = subprocess.run(
        [sys.executable, "-m", "mailflow", *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """After `mailflow init`, a database holding ROWS messages and ROWS outgoing letters."""
    folder = tmp_path_factory.mktemp("listing")
    mailflow(folder, "init")
    store = Store.open(load_settings(folder / "config.yaml").database_url)
    try:
        with store.session() as session:
            for n in range(1, ROWS + 1):
                session.add(
                    InboundMessage(
                        source="local",
                        folder="INBOX",
                        uid=f"m{n}",
                        sha256=f"{n:064x}",
                        subject=f"第{n}封",
                        state="held",
                    )
                )
                draft = Draft(
                    key=f"test:{n}",
                    kind="ack_submission",
                    recipients=[f"l{n}@hongda.cn"],
                    rendered=Rendered(f"回执{n}", "正文\n", ""),
                )
                queue(session, draft, now=NOW, message_id_domain="mailflow.test")
    finally:
        store.close()
    return folder


@pytest.mark.parametrize("listing", ["inbox", "outbox"])
def test_json_lists_every_row_when_no_limit_is_asked_for(home: Path, listing: str) -> None:
    """GIVEN more rows than the table's default WHEN `list --json` runs without --limit THEN every row is listed."""
    items = json.loads(mailflow(home, listing, "list", "--json"))
    assert [item["id"] for item in items] == list(range(1, ROWS + 1))


@pytest.mark.parametrize("listing", ["inbox", "outbox"])
def test_json_keeps_a_limit_that_is_asked_for(home: Path, listing: str) -> None:
    """GIVEN many rows WHEN `list --json --limit 5` runs THEN the newest five are listed, oldest first."""
    items = json.loads(mailflow(home, listing, "list", "--json", "--limit", "5"))
    assert [item["id"] for item in items] == list(range(ROWS - 4, ROWS + 1))


@pytest.mark.parametrize("listing", ["inbox", "outbox"])
def test_the_table_shows_the_newest_fifty_by_default_and_says_so(home: Path, listing: str) -> None:
    """GIVEN many rows WHEN the table form runs without --limit THEN it shows the newest 50; --help tells
    that default, and that --json lists every row."""
    lines = mailflow(home, listing, "list").splitlines()
    assert [int(line.split("\t")[0]) for line in lines] == list(range(ROWS - 49, ROWS + 1))
    assert len(mailflow(home, listing, "list", "--limit", "100").splitlines()) == ROWS
    help_text = " ".join(mailflow(home, listing, "list", "--help").split())
    assert "newest 50 in the table" in help_text and "every row with --json" in help_text
