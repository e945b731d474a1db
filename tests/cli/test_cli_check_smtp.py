"""`mailflow check` logs in to the SMTP server when letters go out by SMTP: a real aiosmtpd on 127.0.0.1 with AUTH."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from servers.smtp import Recorder, free_port
from test_cli_commands import mailflow
from test_cli_database_secret import write_home

USER = "mishuchu@chamber.example.org"
PASSWORD = "smtp-Sekr1t"
PASSWORD_ENV = "MF_TEST_SMTP_PASSWORD"


def only(user: str, password: str) -> Any:
    """An aiosmtpd authenticator that takes this one login."""

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        right = LoginPassword(user.encode(), password.encode())
        # handled=False: aiosmtpd itself answers a failure (535), as a real server does.
        return AuthResult(success=isinstance(auth_data, LoginPassword) and auth_data == right, handled=False)

    return authenticate


@pytest.fixture
def smtp_port() -> Iterator[int]:
    """A real SMTP server on 127.0.0.1 that offers AUTH in plain text (loopback only) to USER/PASSWORD."""
    controller = Controller(
        Recorder(), hostname="127.0.0.1", port=free_port(), authenticator=only(USER, PASSWORD), auth_require_tls=False
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def home_sending_by_smtp(folder: Path, port: int) -> Path:
    smtp = {"host": "127.0.0.1", "port": port, "security": "none", "user": USER, "password_env": PASSWORD_ENV}
    write_home(folder, outbound={"transport": "smtp", "smtp": {**smtp, "timeout": 5}})
    mailflow(folder, "init")
    return folder


def test_check_logs_in_to_the_smtp_server(tmp_path: Path, smtp_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN transport smtp and the right password WHEN check runs THEN it logs in and says so, exit 0."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    result = mailflow(home_sending_by_smtp(tmp_path, smtp_port), "check", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"✓ outbound.smtp: logged in as {USER} at 127.0.0.1:{smtp_port} (none)" in result.stdout


def test_check_fails_on_a_wrong_smtp_password(tmp_path: Path, smtp_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a wrong SMTP password WHEN check runs THEN it fails (exit 1) naming outbound.smtp and the
    server's reply, and the password shows nowhere."""
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    result = mailflow(home_sending_by_smtp(tmp_path, smtp_port), "check", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "✗ outbound.smtp: SMTP login refused: 535 5.7.8 Authentication credentials invalid" in result.stdout
    assert "not-the-password" not in result.stdout + result.stderr


def test_check_fails_when_the_smtp_server_cannot_be_reached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN an SMTP port where nothing listens WHEN check runs THEN it fails (exit 1) naming outbound.smtp."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    port = free_port()
    result = mailflow(home_sending_by_smtp(tmp_path, port), "check", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"✗ outbound.smtp: cannot connect to 127.0.0.1:{port}" in result.stdout
