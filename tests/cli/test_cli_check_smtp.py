"""`mailflow check` logs in to the SMTP server when letters go out by SMTP: a real aiosmtpd on 127.0.0.1 with AUTH;
and warns when the server takes smaller messages than mailflow may send (aiosmtpd, and Debian's Postfix)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from servers.postfix import PostfixServer
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


@pytest.fixture
def ten_mb_smtp_port() -> Iterator[int]:
    """A real SMTP server on 127.0.0.1 that offers SIZE 10240000, Debian's Postfix default."""
    controller = Controller(Recorder(), hostname="127.0.0.1", port=free_port(), data_size_limit=10240000)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def home_sending_by_smtp(folder: Path, port: int, **sections: dict[str, Any]) -> Path:
    smtp = {"host": "127.0.0.1", "port": port, "security": "none", "user": USER, "password_env": PASSWORD_ENV}
    write_home(folder, outbound={"transport": "smtp", "smtp": {**smtp, "timeout": 5}}, **sections)
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


SIZE_WARNING = (
    "! outbound.smtp: the server takes messages up to 9.8 MB (SIZE 10240000), less than the largest letter "
    "mailflow may send (about 34.2 MB: a circular with 25 MB of files, circulars.max_attachments_mb): such a "
    "letter would be refused"
)


def home_without_login(folder: Path, port: int) -> Path:
    write_home(folder, outbound={"transport": "smtp", "smtp": {"host": "127.0.0.1", "port": port, "security": "none"}})
    mailflow(folder, "init")
    return folder


def test_check_warns_when_the_server_takes_smaller_messages_than_we_may_send(
    tmp_path: Path, ten_mb_smtp_port: int
) -> None:
    """GIVEN a server offering SIZE 10240000 and limits.max_message_mb 30 (as shipped) WHEN check runs
    THEN it warns that the largest letter would be refused; a warning, so exit 0."""
    result = mailflow(home_without_login(tmp_path, ten_mb_smtp_port), "check", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert SIZE_WARNING in " ".join(result.stdout.split())


def test_check_says_nothing_of_size_when_the_server_takes_our_largest_letter(
    tmp_path: Path, smtp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a server offering SIZE 33554432 (32 MiB, aiosmtpd's default) and circulars of at most 20 MB
    of files (27.4 MB encoded; mail read up to 30 MB) WHEN check runs THEN no warning; with the shipped
    25 MB (34.2 MB encoded) THEN the warning."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    (tmp_path / "20").mkdir()
    (tmp_path / "25").mkdir()
    home = home_sending_by_smtp(tmp_path / "20", smtp_port, circulars={"max_attachments_mb": 20})
    result = mailflow(home, "check", check=False)
    assert result.returncode == 0 and "SIZE" not in result.stdout, result.stdout + result.stderr
    result = mailflow(home_sending_by_smtp(tmp_path / "25", smtp_port), "check", check=False)
    said = " ".join(result.stdout.split())
    assert "up to 32.0 MB (SIZE 33554432), less than the largest letter mailflow may send (about 34.2 MB" in said


def test_check_warns_of_debians_postfix_default_size(tmp_path: Path, postfix: Callable[..., PostfixServer]) -> None:
    """GIVEN Postfix as Debian ships it (message_size_limit = 10240000) WHEN check runs THEN the warning."""
    server = postfix(domains=["chamber.example.org"], mailboxes=["mishuchu@chamber.example.org"])
    result = mailflow(home_without_login(tmp_path, server.port), "check", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert SIZE_WARNING in " ".join(result.stdout.split())
