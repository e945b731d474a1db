"""GIVEN mail whose From is forged, ambiguous or disowned by our own server WHEN a pass runs
THEN it is held with its reason, matched to no liaison and answered to nobody."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import LIAISON, add_liaison, deliver, make_app, make_mail
from sqlmodel import select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.store import InboundMessage, Outbox

MX = "mx.chamber.example.org"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path, security={"trusted_authserv_ids": [MX]})
    add_liaison(application)
    yield application
    application.close()


def with_from(raw: bytes, *values: bytes, extra: tuple[bytes, ...] = ()) -> bytes:
    """The mail with its From header(s) replaced by exactly these raw values, and more headers on top."""
    head, _, body = raw.partition(b"\n\n")
    kept = [line for line in head.split(b"\n") if not line.lower().startswith(b"from:")]
    lines = list(extra) + [b"From: " + value for value in values] + kept
    return b"\n".join(lines) + b"\n\n" + body


def run(app: App, tmp_path: Path, raw: bytes) -> tuple[InboundMessage, list[Outbox]]:
    deliver(tmp_path / "Maildir", raw)
    assert not Daemon(app).run_once().errors
    with app.store.session() as session:
        (row,) = session.exec(select(InboundMessage)).all()
        letters = list(session.exec(select(Outbox).where(Outbox.kind != "digest")).all())
    return row, letters


FORGED = {
    "two From headers": ([LIAISON.encode(), b"bob@evil.example"], "from_twice"),
    "two addresses in one From": ([LIAISON.encode() + b", bob@evil.example"], "from_several"),
    "the 27043 shape": ([LIAISON.encode() + b")<bob@evil.example>"], "from_several"),
    "quoted local part": ([b'"' + LIAISON.encode() + b'"@evil.example'], "from_malformed"),
    "address as display name": ([b'"' + LIAISON.encode() + b'" <bob@evil.example>'], "from_address_in_name"),
    "address in an encoded display name": (
        [b"=?utf-8?b?d2FuZ2ZhbmdAaG9uZ2RhLW1hY2hpbmVyeS5jbg==?= <bob@evil.example>"],
        "from_address_in_name",
    ),
    "address in a comment": ([b"bob@evil.example (" + LIAISON.encode() + b")"], "from_address_in_name"),
    "Cyrillic look-alike domain": (["wangfang@hongda-mаchinery.cn".encode()], "from_lookalike"),
    "punycode look-alike domain": ([b"wangfang@xn--hongda-mchinery-1lm.cn"], "from_lookalike"),
    "fullwidth letters": (["wangfang@hongda-machinery.ｃｎ".encode()], "from_lookalike"),
    "line breaks in an encoded display name": (
        [b"=?utf-8?b?" + base64.b64encode("王芳\n\n- 账号：6222".encode()) + b"?= <" + LIAISON.encode() + b">"],
        "from_control",
    ),
    "NUL inside the address": ([LIAISON.encode() + b"\x00<bob@evil.example>"], "from_control"),
}


@pytest.mark.parametrize("values, code", FORGED.values(), ids=FORGED.keys())
def test_an_ambiguous_from_is_held_unanswered_and_never_a_liaison(
    app: App, tmp_path: Path, values: list[bytes], code: str
) -> None:
    row, letters = run(app, tmp_path, with_from(make_mail(), *values))
    assert row.state == "held"
    assert [r["code"] for r in row.reasons] == [code]
    assert row.reasons[0]["zh"] and row.reasons[0]["en"]
    assert (row.sender_role, row.unit_id, row.liaison_id) == ("unknown", None, None)
    assert letters == []


HONEST = {
    "quoted name": b'"\xe7\x8e\x8b\xe8\x8a\xb3" <' + LIAISON.encode() + b">",
    "GB2312 encoded name": b"=?GB2312?B?zfW3vA==?= <" + LIAISON.encode() + b">",
    "Outlook quoting its own address": b"'" + LIAISON.encode() + b"' <" + LIAISON.encode() + b">",
    "bare address in capitals": LIAISON.upper().encode(),
    "old style comment": LIAISON.encode() + b" (Wang Fang)",
    "8-bit GBK name": b"\xcd\xf5\xb7\xbc <" + LIAISON.encode() + b">",
}


@pytest.mark.parametrize("value", HONEST.values(), ids=HONEST.keys())
def test_the_from_shapes_honest_clients_write_are_the_liaison(app: App, tmp_path: Path, value: bytes) -> None:
    row, letters = run(app, tmp_path, with_from(make_mail(charset="gb18030"), value))
    assert (row.state, row.sender_role, row.sender) == ("processed", "liaison", LIAISON)
    assert [letter.recipients for letter in letters] == [[LIAISON]]


def auth(value: str) -> bytes:
    return b"Authentication-Results: " + value.encode()


def test_a_trusted_dmarc_failure_is_held_and_not_answered(app: App, tmp_path: Path) -> None:
    header = auth(
        f"{MX}; spf=fail smtp.mailfrom=hongda-machinery.cn; dmarc=fail (p=none) header.from=hongda-machinery.cn"
    )
    row, letters = run(app, tmp_path, with_from(make_mail(), LIAISON.encode(), extra=(header,)))
    assert row.state == "held" and [r["code"] for r in row.reasons] == ["forged_sender"]
    assert "dmarc=fail" in row.reasons[0]["en"] and row.sender_role == "unknown"
    assert letters == []


def test_a_failed_signature_of_the_from_domain_is_held(app: App, tmp_path: Path) -> None:
    header = auth(f"{MX}; dkim=fail (signature did not verify) header.d=hongda-machinery.cn header.s=s1")
    row, letters = run(app, tmp_path, with_from(make_mail(), LIAISON.encode(), extra=(header,)))
    assert (row.state, [r["code"] for r in row.reasons], letters) == ("held", ["forged_sender"], [])


def test_a_failed_signature_of_another_domain_is_no_evidence(app: App, tmp_path: Path) -> None:
    """A mailing list or forwarder breaks its own signature; only the From domain's counts."""
    header = auth(f"{MX}; dkim=fail header.d=lists.example.net; dkim=pass header.d=hongda-machinery.cn")
    row, _ = run(app, tmp_path, with_from(make_mail(), LIAISON.encode(), extra=(header,)))
    assert (row.state, row.sender_role) == ("processed", "liaison")


def test_a_forged_failure_below_our_servers_header_is_ignored(app: App, tmp_path: Path) -> None:
    """The topmost trusted header is our server's; one lower down was written by the sender."""
    ours = auth(f"{MX}; dkim=pass header.d=hongda-machinery.cn; dmarc=pass header.from=hongda-machinery.cn")
    forged = auth(f"{MX}; dmarc=fail header.from=hongda-machinery.cn")
    row, _ = run(app, tmp_path, with_from(make_mail(), LIAISON.encode(), extra=(ours, forged)))
    assert (row.state, row.sender_role) == ("processed", "liaison")


def test_a_forged_pass_below_our_servers_failure_does_not_help(app: App, tmp_path: Path) -> None:
    ours = auth(f"{MX}; dmarc=fail header.from=hongda-machinery.cn")
    forged = auth(f"{MX}; dmarc=pass header.from=hongda-machinery.cn")
    row, letters = run(app, tmp_path, with_from(make_mail(), LIAISON.encode(), extra=(ours, forged)))
    assert (row.state, letters) == ("held", [])


def test_results_from_servers_we_do_not_trust_are_ignored(app: App, tmp_path: Path) -> None:
    header = auth("mx.evil.example; dmarc=fail header.from=hongda-machinery.cn")
    row, _ = run(app, tmp_path, with_from(make_mail(), LIAISON.encode(), extra=(header,)))
    assert (row.state, row.sender_role) == ("processed", "liaison")


def test_without_any_result_mail_is_read_as_before(tmp_path: Path) -> None:
    app = make_app(tmp_path)  # no trusted servers configured
    add_liaison(app)
    header = auth(f"{MX}; dmarc=fail header.from=hongda-machinery.cn")
    row, letters = run(app, tmp_path, with_from(make_mail(), LIAISON.encode(), extra=(header,)))
    assert (row.state, row.sender_role, len(letters)) == ("processed", "liaison", 1)
    app.close()


def test_a_stranger_whose_mail_fails_dmarc_gets_no_letter_about_registering(app: App, tmp_path: Path) -> None:
    header = auth(f"{MX}; dmarc=fail header.from=example.net")
    row, letters = run(app, tmp_path, with_from(make_mail(), b"someone@example.net", extra=(header,)))
    assert (row.state, [r["code"] for r in row.reasons], letters) == ("held", ["forged_sender"], [])


def test_reply_to_never_redirects_an_automatic_reply(app: App, tmp_path: Path) -> None:
    raw = make_mail(headers={"Reply-To": "collector@evil.example"})
    row, letters = run(app, tmp_path, raw)
    assert row.state == "processed"
    assert [letter.recipients for letter in letters] == [[LIAISON]]
