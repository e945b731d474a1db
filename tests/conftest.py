"""Shared fixtures: a real IMAP server per test account, a clean PostgreSQL schema, the corpus.

- `imap_server`: an `ImapTestServer` (Dovecot if installed, else pymap; `MAILFLOW_TEST_IMAP`
  forces one) started once per session; each test gets a fresh, empty account on it.
- `pg_url`: a SQLAlchemy URL from `MAILFLOW_TEST_PG_URL` whose connections use a new schema of
  their own (`options=-csearch_path=...`), dropped after the test; skipped when unset.
- `corpus_dir`: shared/corpus beside the checkout, or `MAILFLOW_CORPUS`.
- `app`: a mailflow on the embedded default (Maildir, SQLite, file outbox) with one
  unit and its liaison registered (builders.LIAISON).
- `smtp_server`: (recorder, port) of a real aiosmtpd on 127.0.0.1 with scripted faults (servers/smtp.py).
- `postfix`: start(**options) starts a private Postfix on 127.0.0.1 (servers/postfix.py), stopped
  after the test; skipped where Postfix is not installed or the tests do not run as root.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import add_liaison, make_app
from servers.imap import ImapTestServer, default_kind
from servers.postfix import PostfixServer, unavailable
from servers.smtp import DropsAtData, Recorder, start_smtp_server
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mailflow.app import App


@pytest.fixture(scope="session")
def imap_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], ImapTestServer]]:
    """get(kind) starts that kind's server at first use; all are stopped at session end."""
    servers: dict[str, ImapTestServer] = {}

    def get(kind: str) -> ImapTestServer:
        if kind not in servers:
            server = ImapTestServer(tmp_path_factory.mktemp(f"imap-{kind}"), kind=kind)
            server.start()
            servers[kind] = server
        return servers[kind]

    yield get
    for server in servers.values():
        server.stop()


@pytest.fixture
def imap_server(imap_servers: Callable[[str], ImapTestServer]) -> ImapTestServer:
    """The session's IMAP server, switched to a fresh, empty account for this test."""
    server = imap_servers(default_kind())
    server.new_user()
    return server


@pytest.fixture(scope="session")
def _pg_admin_url() -> str:
    url = os.environ.get("MAILFLOW_TEST_PG_URL")
    if not url:
        pytest.skip("PostgreSQL tests need MAILFLOW_TEST_PG_URL (a SQLAlchemy URL); .ci/run sets it")
    return url


@pytest.fixture
def pg_url(_pg_admin_url: str) -> Iterator[str]:
    """A URL whose connections see only a new, empty schema; dropped (CASCADE) after the test.

    A schema per test rather than emptying `public`: nothing to enumerate (tables, sequences,
    types), and parallel runs cannot meet. Advisory locks are database-wide all the same.
    """
    schema = f"mailflow_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(_pg_admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.connect() as conn:
            # A test that left a transaction open would hold locks: fail rather than hang.
            conn.execute(text("SET lock_timeout = '10s'"))
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    path = Path(os.environ.get("MAILFLOW_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
    if not path.is_dir():
        pytest.skip(f"mail corpus not found at {path} (set MAILFLOW_CORPUS to its directory)")
    return path


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = start_smtp_server(recorder)
    try:
        yield recorder, controller.port
    finally:
        DropsAtData.drops = 0
        controller.stop()


@pytest.fixture
def postfix(tmp_path: Path) -> Iterator[Callable[..., PostfixServer]]:
    """start(domains=..., mailboxes=..., accept_unknown=..., settings=...) -> a running private Postfix."""
    why = unavailable()
    if why is not None:
        pytest.skip(why)
    started: list[PostfixServer] = []

    def start(**options: Any) -> PostfixServer:
        server = PostfixServer(tmp_path / f"postfix-{len(started)}", **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path)
    add_liaison(application)
    yield application
    application.close()
