"""The database password comes from database.password_env and shows in no output: init, check, status."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import REPO
from servers.smtp import free_port
from sqlalchemy.engine import URL, make_url
from test_cli_commands import mailflow

PASSWORD_ENV = "MF_TEST_DB_PASSWORD"


def write_home(folder: Path, **sections: dict[str, Any]) -> None:
    """The shipped config.yaml in `folder`, these sections' keys replaced; `init` adds the rest."""
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value}
    (folder / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")


def without_password(url: URL) -> str:
    return URL.create(
        url.drivername, url.username, None, url.host, url.port, url.database, url.query
    ).render_as_string()


def assert_not_shown(password: str, shown_url: str, *outputs: str) -> None:
    """The password in no output. A test server's password may be its user's name, which the URL shows:
    then it must not show as the URL's user:password."""
    secret = f":{password}@" if password in shown_url else password
    for text in outputs:
        assert secret not in text, text


def outputs(folder: Path, *commands: tuple[str, ...]) -> list[tuple[int, str]]:
    """(exit code, stdout and stderr) of each command, run in `folder`."""
    results = [mailflow(folder, *command, check=False) for command in commands]
    return [(r.returncode, r.stdout + r.stderr) for r in results]


def test_postgres_password_from_the_environment_works_and_is_never_printed(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a PostgreSQL URL without its password and database.password_env naming the variable that holds it
    WHEN init, check and status run THEN each works and none prints the password."""
    url = make_url(pg_url)
    assert url.password, "MAILFLOW_TEST_PG_URL needs a password for this test"
    monkeypatch.setenv(PASSWORD_ENV, url.password)
    write_home(tmp_path, database={"url": without_password(url), "password_env": PASSWORD_ENV})

    (init, init_out), (check, check_out), (status, status_out) = outputs(
        tmp_path, ("init",), ("check",), ("status", "--json")
    )

    assert init == 0 and "database ready: " in init_out and ":***@" in init_out, init_out
    assert check == 0 and "✓ database at schema" in check_out and "holds a password" not in check_out, check_out
    assert status == 0 and json.loads(status_out)["total"] == 0, status_out
    assert_not_shown(url.password, url.render_as_string(hide_password=True), init_out, check_out, status_out)


def test_a_password_in_the_database_url_still_works_and_check_warns(tmp_path: Path, pg_url: str) -> None:
    """GIVEN an older config whose database URL carries the password WHEN init and check run THEN both
    work, check warns that secrets belong in the environment, and neither prints the password."""
    url = make_url(pg_url)
    write_home(tmp_path, database={"url": pg_url})

    (init, init_out), (check, check_out) = outputs(tmp_path, ("init",), ("check",))

    assert init == 0 and check == 0, (init_out, check_out)
    assert "database.url holds a password: secrets belong in the environment (database.password_env)" in check_out
    assert_not_shown(str(url.password), url.render_as_string(hide_password=True), init_out, check_out)


def assert_refused_without_the_password(folder: Path, password: str) -> None:
    """init, check and status all fail with the database's error, the URL masked, the password nowhere."""
    for code, text in outputs(folder, ("init",), ("check",), ("status",)):
        assert code == 1, text
        assert ":***@127.0.0.1" in text and "Traceback" not in text, text
        assert password not in text, text


def test_an_unreachable_database_is_reported_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN database.password_env and a PostgreSQL port where nothing listens WHEN init, check and status
    run THEN each fails (exit 1) naming the database, and no message carries the password."""
    pytest.importorskip("psycopg")
    password = f"Sekr1t-{uuid.uuid4().hex}"
    monkeypatch.setenv(PASSWORD_ENV, password)
    url = f"postgresql+psycopg://mailflow@127.0.0.1:{free_port()}/mailflow"
    write_home(tmp_path, database={"url": url, "password_env": PASSWORD_ENV})
    assert_refused_without_the_password(tmp_path, password)


def test_a_wrong_database_password_is_reported_without_it(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a real PostgreSQL and a wrong password in database.password_env WHEN init, check and status
    run THEN each fails (exit 1) with the server's refusal, and no message carries the password."""
    password = f"Wrong-{uuid.uuid4().hex}"
    monkeypatch.setenv(PASSWORD_ENV, password)
    url = make_url(pg_url)
    write_home(tmp_path, database={"url": without_password(url), "password_env": PASSWORD_ENV})
    assert_refused_without_the_password(tmp_path, password)
