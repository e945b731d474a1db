"""Configuration: the shipped example works as it is; a bad file names the key path and stops with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from builders import REPO
from sqlalchemy.engine import make_url

from mailflow.config import ImapSource, MaildirSource, load_settings
from mailflow.errors import ConfigError


def test_shipped_config_is_the_embedded_default() -> None:
    settings = load_settings(REPO / "config.yaml")
    assert settings.chamber.timezone == "Asia/Shanghai" and settings.chamber.locale == "zh-CN"
    (source,) = settings.sources
    assert isinstance(source, MaildirSource)
    assert settings.resolve(source.path) == REPO / "var" / "Maildir"
    assert settings.database_url == f"sqlite:///{REPO / 'var' / 'mailflow.db'}"
    assert settings.data_dir == REPO / "var" / "data"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("chamber:\n  timezone: Mars/Olympus\n", "chamber.timezone: Value error, unknown time zone 'Mars/Olympus'"),
        ("chamber:\n  secretariat: [nobody]\n", "chamber.secretariat: Value error, 'nobody' is not an email address"),
        ("chamber:\n  langauge: en\n", "chamber.langauge: unknown key (check the spelling)"),
        (
            "sources:\n  - name: a\n    kind: imap\n    host: h\n    port: 99999\n    user: u\n    password_env: X\n",
            "sources.0.port: Input should be less than or equal to 65535",
        ),
        (
            "sources:\n  - name: a\n    kind: imap\n    user: u\n    password_env: X\n",
            "sources.0.host: required key is missing",
        ),
        ("sources:\n  - name: a\n    kind: pop3\n", "sources.0: Input tag 'pop3' found using 'kind' does not match"),
        ("limits:\n  max_parts: 0\n", "limits.max_parts: Input should be greater than or equal to 1"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("chamber: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_key_path(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert any(p.startswith(expected) or expected in p for p in info.value.problems), info.value.problems


def test_imap_password_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "sources:\n  - name: box\n    kind: imap\n    host: 127.0.0.1\n    user: u\n    password_env: MF_TEST_PW\n"
    monkeypatch.delenv("MF_TEST_PW", raising=False)
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert info.value.problems == ["sources.0.password_env: environment variable MF_TEST_PW is not set or empty"]
    monkeypatch.setenv("MF_TEST_PW", "s3cret")
    (source,) = load_settings(write(tmp_path, text)).sources
    assert isinstance(source, ImapSource) and source.password() == "s3cret"
    assert "s3cret" not in repr(source)


def test_every_command_refuses_a_bad_config_with_exit_2_and_touches_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "database:\n  url: sqlite:///var/x.db\nlimits:\n  max_depth: many\n")
    for args in (["check"], ["run", "--once"], ["status"], ["inbox", "list"], ["reprocess", "--held"]):
        result = subprocess.run(
            [sys.executable, "-m", "mailflow", *args, "--config", str(path)],
            check=False,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert "limits.max_depth" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_config_found_through_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "chamber:\n  timezone: Nowhere/None\n")
    result = subprocess.run(
        [sys.executable, "-m", "mailflow", "status"],
        check=False,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "MAILFLOW_CONFIG": str(path)},
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "chamber.timezone" in result.stderr


def imap_yaml(host: str, security: str) -> str:
    return (
        f"sources:\n  - name: box\n    kind: imap\n    host: '{host}'\n    security: {security}\n"
        "    user: u\n    password_env: MF_TEST_PW\n"
    )


def smtp_yaml(host: str, security: str, user: str = "u") -> str:
    return (
        f"outbound:\n  transport: smtp\n  smtp:\n    host: '{host}'\n    security: {security}\n"
        f"    user: '{user}'\n    password_env: MF_TEST_PW\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            imap_yaml("imap.example.com", "none"),
            "sources.0.security: none (no TLS) is allowed only for a loopback host (127.0.0.0/8, ::1, localhost); "
            "imap.example.com would get the password in clear",
        ),
        (
            smtp_yaml("192.0.2.25", "none"),
            "outbound.smtp.security: none (no TLS) is allowed only for a loopback host (127.0.0.0/8, ::1, localhost); "
            "192.0.2.25 would get the password in clear",
        ),
        (smtp_yaml("smtp.example.com", "none", user=""), "smtp.example.com would get every letter in clear"),
        (imap_yaml("localhost.example.com", "none"), "localhost.example.com would get the password in clear"),
        (imap_yaml("128.0.0.1", "none"), "128.0.0.1 would get the password in clear"),
    ],
)
def test_plain_text_to_a_host_off_this_machine_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    """GIVEN security: none for a server that is not loopback WHEN the config loads THEN it is refused,
    naming the key path and the host that would read the password."""
    monkeypatch.setenv("MF_TEST_PW", "s3cret")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert any(expected in p for p in info.value.problems), info.value.problems


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LocalHost"])
@pytest.mark.parametrize("kind", ["imap", "smtp"])
def test_plain_text_to_a_loopback_host_is_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str, kind: str
) -> None:
    """GIVEN security: none for a loopback server (written as an address or as localhost)
    WHEN the config loads THEN it is accepted."""
    monkeypatch.setenv("MF_TEST_PW", "s3cret")
    text = imap_yaml(host, "none") if kind == "imap" else smtp_yaml(host, "none")
    load_settings(write(tmp_path, text))


def test_database_password_comes_from_the_environment_and_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN database.password_env WHEN the config loads THEN the URL to connect with carries the
    variable's password (escaped by SQLAlchemy, not pasted in), and the URL to show masks it."""
    secret = "p@ss/w:rd%1"
    monkeypatch.setenv("MF_TEST_DB_PW", secret)
    text = "database:\n  url: postgresql+psycopg://mailflow@db.internal:5432/mailflow\n  password_env: MF_TEST_DB_PW\n"
    settings = load_settings(write(tmp_path, text))
    url = make_url(settings.database_url)
    assert (url.username, url.password, url.host, url.database) == ("mailflow", secret, "db.internal", "mailflow")
    assert settings.database_url_shown == "postgresql+psycopg://mailflow:***@db.internal:5432/mailflow"
    assert secret not in repr(settings) and not settings.database.password_in_url()


def test_a_missing_database_password_stops_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN database.password_env naming an unset variable WHEN the config loads, even for a command
    that reaches no mailbox THEN it fails naming database.password_env."""
    monkeypatch.delenv("MF_TEST_DB_PW", raising=False)
    text = "database:\n  url: postgresql+psycopg://mailflow@127.0.0.1/mailflow\n  password_env: MF_TEST_DB_PW\n"
    for check_secrets in (True, False):
        with pytest.raises(ConfigError) as info:
            load_settings(write(tmp_path, text), check_secrets=check_secrets)
        assert info.value.problems == ["database.password_env: environment variable MF_TEST_DB_PW is not set or empty"]


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        (
            "  url: sqlite:///var/x.db\n  password_env: MF_TEST_DB_PW\n",
            "database.password_env: Value error, SQLite has no password",
        ),
        ("  url: 'postgresql://u:Sekr1t@h:port/x'\n", "database.url: Value error, not a SQLAlchemy URL"),
    ],
)
def test_a_bad_database_section_is_refused_without_repeating_the_url(
    tmp_path: Path, database: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, f"database:\n{database}"))
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems
    assert "Sekr1t" not in str(info.value)


def test_a_password_written_in_the_database_url_still_works(tmp_path: Path) -> None:
    """GIVEN an older config whose URL carries its password WHEN it loads THEN it connects as before
    (`mailflow check` warns), and the URL to show masks the password."""
    settings = load_settings(write(tmp_path, "database:\n  url: postgresql+psycopg://mf:Sekr1t@127.0.0.1/mf\n"))
    assert make_url(settings.database_url).password == "Sekr1t" and settings.database.password_in_url()
    assert "Sekr1t" not in settings.database_url_shown
