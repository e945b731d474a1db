"""Configuration: the shipped example works as it is; a bad file names the key path and stops with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from builders import REPO

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
