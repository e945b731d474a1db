"""The name mailflow greets an SMTP server with (EHLO): a real, fully qualified name, never this
host's own `localhost`, which servers that check the greeting refuse."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from builders import LIAISON, SECRETARIAT, make_settings
from servers.postfix import PostfixServer
from servers.smtp import Recorder

from mailflow.app import make_transport
from mailflow.errors import ConfigError
from mailflow.outbound.smtp import SmtpTransport
from mailflow.outbound.transports import Letter

LETTER = Letter(
    SECRETARIAT,
    (LIAISON,),
    b"Subject: hello\r\nMessage-ID: <helo@mailflow.test>\r\n\r\nhello\r\n",
    "helo@mailflow.test",
)


@pytest.fixture
def host_named_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine whose own name is `localhost`, as on many hosts (and containers)."""
    monkeypatch.setattr(socket, "getfqdn", lambda name="": "localhost")


def transport(tmp_path: Path, port: int, **smtp: str) -> SmtpTransport:
    settings = make_settings(
        tmp_path,
        outbound={
            "transport": "smtp",
            "from_address": SECRETARIAT,
            "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5, **smtp},
        },
    )
    made = make_transport(settings)
    assert isinstance(made, SmtpTransport)
    return made


def send(smtp: SmtpTransport, letter: Letter = LETTER) -> None:
    async def once() -> None:
        try:
            await smtp.send(0, letter)
        finally:
            await smtp.aclose()

    asyncio.run(once())


@pytest.mark.parametrize(
    ("configured", "greeting"),
    [({}, "chamber.example.org"), ({"helo_name": "mail.chamber.example.org"}, "mail.chamber.example.org")],
    ids=["by default", "configured"],
)
def test_the_greeting_is_the_from_address_domain_or_the_configured_name(
    tmp_path: Path,
    smtp_server: tuple[Recorder, int],
    host_named_localhost: None,
    configured: dict[str, str],
    greeting: str,
) -> None:
    """GIVEN a host whose own name is localhost WHEN a letter is sent THEN the server was greeted
    with outbound.smtp.helo_name, or by default the domain of outbound.from_address."""
    recorder, port = smtp_server
    send(transport(tmp_path, port, **configured))
    assert recorder.greetings == [greeting]


@pytest.mark.parametrize("name", ["localhost", "vm", "localhost.localdomain", "mail_server.example.org"])
def test_a_greeting_that_is_not_a_qualified_name_is_refused_in_the_config(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        transport(tmp_path, 25, helo_name=name)
    assert any(p.startswith("outbound.smtp.helo_name:") for p in info.value.problems), info.value.problems


def test_an_internationalised_from_domain_greets_in_its_idna_form(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, outbound={"from_address": "mishuchu@商会.中国"})
    assert settings.outbound.helo_name("mailflow.test") == "xn--6oq43m.xn--fiqs8s"


def test_postfix_that_refuses_an_unqualified_greeting_takes_our_letter(
    tmp_path: Path, postfix: Callable[..., PostfixServer], host_named_localhost: None
) -> None:
    """GIVEN Postfix with `smtpd_helo_required = yes` and `reject_non_fqdn_helo_hostname`, on a host
    whose own name is localhost, WHEN mailflow sends a letter THEN Postfix takes and delivers it."""
    strict = {"smtpd_helo_required": "yes", "smtpd_helo_restrictions": "reject_non_fqdn_helo_hostname"}
    server = postfix(domains=["chamber.example.org", "hongda-machinery.cn"], mailboxes=[LIAISON], settings=strict)

    send(transport(tmp_path, server.port))

    assert b"Message-ID: <helo@mailflow.test>" in server.wait_for(LIAISON)
