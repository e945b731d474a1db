"""Letters that carry parts (a PDF with a Chinese name, an inline image, an invitation), sent to a real
aiosmtpd on 127.0.0.1 and read back with the email package; on SQLite and, when MAILFLOW_TEST_PG_URL
is given, on PostgreSQL."""

from __future__ import annotations

import email
import io
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from servers.smtp import Recorder
from sqlmodel import func, select

from mailflow.clock import FixedClock
from mailflow.outbound.dispatch import Dispatcher
from mailflow.outbound.mime import wire_part
from mailflow.outbound.outbox import Draft, OutgoingPart, attach, build_message, queue, queue_once
from mailflow.outbound.render import Rendered
from mailflow.outbound.smtp import SmtpTransport
from mailflow.store import BlobStore, Outbox, OutboxPart, OutboxState, Store, sha256_hex

SENDER = "mishuchu@chamber.example.org"
SENDER_NAME = "成都市机械制造业商会秘书处"
DOMAIN = "mailflow.test"
PDF_NAME = "关于召开2026年度联络员工作会议的通知.pdf"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"  # every byte value, CR and LF among them
AGENDA = b"PK\x03\x04 the agenda, as a Word file"
INVITATION = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailflow//zh-CN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
    "UID:meeting-2026-12@chamber.example.org\r\nDTSTAMP:20261124T013000Z\r\nDTSTART:20261208T010000Z\r\n"
    "DTEND:20261208T040000Z\r\nSUMMARY:2026年度联络员工作会议\r\nLOCATION:商会三楼会议室\r\n"
    "ORGANIZER;CN=商会秘书处:mailto:mishuchu@chamber.example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
).encode()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 16, 46)).save(buffer, "PNG")
    return buffer.getvalue()


# What build_message wrote for a letter before letters carried parts (the boundary aside).
BEFORE = (
    b"From: =?utf-8?b?5oiQ6YO95biC5py65qKw5Yi26YCg5Lia5ZWG5Lya56eY5Lmm5aSE?=\r\n <mishuchu@chamber.example.org>\r\n"
    b"To: wangfang@hongda-machinery.cn, lisi@xn--fsqu00a.xn--fiqs8s\r\n"
    b"Subject: =?utf-8?b?5YWz5LqO5Y+s5byAMjAyNuW5tOW6puiBlOe7nOWRmOW3peS9nA==?=\r\n =?utf-8?b?5Lya6K6u55qE6YCa55+l?=\r\n"
    b"Date: Tue, 24 Nov 2026 01:30:00 +0000\r\n"
    b"Message-ID: <20261124013000.0123456789abcdef@mailflow.test>\r\n"
    b"In-Reply-To: <orig@hongda.cn>\r\n"
    b"References: <a@b>\r\n <orig@hongda.cn>\r\n"
    b"Auto-Submitted: auto-generated\r\n"
    b"X-Auto-Response-Suppress: All\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative;\r\n boundary="BOUNDARY"\r\n'
    b"\r\n"
    b"--BOUNDARY\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"5ZCE5L2N6IGU57uc5ZGY77yaCgror7fop4HpmYTku7bjgIIK\r\n"
    b"\r\n"
    b"--BOUNDARY\r\n"
    b'Content-Type: text/html; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"PHA+5ZCE5L2N6IGU57uc5ZGY77yaPC9wPjxwPuivt+ingemZhOS7tuOAgjwvcD4=\r\n"
    b"\r\n"
    b"--BOUNDARY--\r\n"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The outbox on SQLite, and on PostgreSQL when MAILFLOW_TEST_PG_URL is set."""
    url = f"sqlite:///{tmp_path / 'o.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened = Store.open(url)
    yield opened
    opened.close()


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "outgoing", fsync=True)


def draft(key: str, to: str, attachments: Sequence[OutgoingPart] = (), html: str = "<p>各位联络员：</p>") -> Draft:
    rendered = Rendered("关于召开2026年度联络员工作会议的通知", "各位联络员：\n\n请见附件。\n", html)
    return Draft(key=key, kind="circular", recipients=[to], rendered=rendered, attachments=attachments)


def queued(store: Store, clock: FixedClock, *drafts: Draft) -> list[int]:
    with store.session() as session:
        rows = [queue(session, d, now=clock.now(), message_id_domain=DOMAIN) for d in drafts]
        session.flush()
        return [row.id or 0 for row in rows]


def dispatch(store: Store, clock: FixedClock, port: int, blobs: BlobStore | None, concurrency: int = 1) -> int:
    transport = SmtpTransport("127.0.0.1", port, security="none", timeout=5, data_timeout=5, concurrency=concurrency)
    dispatcher = Dispatcher(store, transport, clock, sender=SENDER, sender_name=SENDER_NAME, parts=blobs)
    try:
        return dispatcher.run()
    finally:
        dispatcher.close()


def outbox_row(store: Store, row_id: int) -> Outbox:
    with store.session() as session:
        found = session.get(Outbox, row_id)
        assert found is not None
        return found


def shape(part: Any) -> Any:
    """The tree of media types: [multipart type, its children…], a leaf's type alone."""
    if part.is_multipart():
        return [part.get_content_type(), *[shape(child) for child in part.iter_parts()]]
    return part.get_content_type()


def leaves(msg: Message) -> dict[str, Any]:
    return {part.get_content_type(): part for part in msg.walk() if not part.is_multipart()}


def filenames(raw: bytes) -> list[str | None]:
    return [part.get_filename() for part in email.message_from_bytes(raw, policy=default).walk() if part.get_filename()]


def without_boundaries(raw: bytes) -> bytes:
    return re.sub(rb"=_mailflow_[0-9a-f]{24}", b"BOUNDARY", raw)


def test_a_chinese_pdf_an_inline_image_and_an_invitation_arrive_with_their_bytes_names_and_types(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock, blobs: BlobStore
) -> None:
    """GIVEN a circular that carries a PDF named in Chinese, the chamber's emblem shown in the HTML by
    cid:, and an invitation (text/calendar; method=REQUEST), WHEN it is sent over SMTP, THEN what
    arrives is mixed around related around alternative; each part gives back the stored bytes, its
    name and its type; the invitation is the last alternative and also invite.ics; the PDF's name is
    RFC 2231 for current clients and RFC 2047 in name= for older Outlook; no line passes 78."""
    recorder, port = smtp_server
    emblem = png()
    pdf = attach(blobs, PDF, PDF_NAME)
    logo = attach(blobs, emblem, "会徽.png", inline=True)
    invitation = attach(blobs, INVITATION, content_type="text/calendar; method=REQUEST")
    html = f'<p>各位联络员：</p><p><img src="{logo.cid}" alt="会徽"></p>'
    queued(store, clock, draft("circular:1:wangfang", "wangfang@hongda-machinery.cn", [pdf, logo, invitation], html))

    assert dispatch(store, clock, port, blobs) == 1
    (raw,) = recorder.received
    msg = email.message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    assert shape(msg) == [
        "multipart/mixed",
        ["multipart/related", ["multipart/alternative", "text/plain", "text/html", "text/calendar"], "image/png"],
        "application/pdf",
        "application/ics",
    ]
    assert msg.get_payload(0).get_param("type") == "multipart/alternative"  # type: ignore[union-attr]
    parts = leaves(msg)

    assert parts["application/pdf"].get_filename() == PDF_NAME
    assert parts["application/pdf"].get_content_disposition() == "attachment"
    assert parts["application/pdf"].get_payload(decode=True) == PDF
    assert b"filename*0*=utf-8''%E5%85%B3%E4%BA%8E" in raw
    old_outlook = email.message_from_bytes(raw)  # compat32: name= as written, RFC 2047 words and all
    (pdf_part,) = [p for p in old_outlook.walk() if p.get_content_type() == "application/pdf"]
    name = pdf_part.get_param("name")
    assert isinstance(name, str) and name.startswith("=?utf-8?b?")
    assert str(make_header(decode_header(name))) == PDF_NAME

    image = parts["image/png"]
    assert image["Content-ID"] == f"<{logo.content_id}>" and image.get_content_disposition() == "inline"
    assert image.get_filename() == "会徽.png" and image.get_payload(decode=True) == emblem
    assert f'src="{logo.cid}"' in parts["text/html"].get_content()

    calendar = parts["text/calendar"]
    assert (calendar.get_param("method"), calendar.get_content_disposition()) == ("REQUEST", None)
    assert calendar.get_payload(decode=True) == INVITATION
    copy = parts["application/ics"]
    assert (copy.get_filename(), copy.get_content_disposition()) == ("invite.ics", "attachment")
    assert copy.get_payload(decode=True) == INVITATION

    assert parts["text/plain"].get_content() == "各位联络员：\n\n请见附件。\n"
    assert msg["Subject"] == "关于召开2026年度联络员工作会议的通知"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_a_circular_to_300_liaisons_is_300_letters_and_one_file(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock, blobs: BlobStore, tmp_path: Path
) -> None:
    """GIVEN a circular with its PDF queued to 300 liaisons, a hundred a transaction, the PDF attached
    again in each (as a workflow that runs again would), WHEN they are sent over four connections,
    THEN the blob folder holds one file, the outbox 300 rows each linked to it, and every letter
    arrives with the PDF's bytes."""
    recorder, port = smtp_server
    liaisons = [f"liaison{n:03d}@unit{n:03d}.example.cn" for n in range(300)]
    for start in range(0, 300, 100):
        pdf = attach(blobs, PDF, PDF_NAME)
        with store.session() as session:
            drafts = [draft(f"circular:7:{to}", to, [pdf]) for to in liaisons[start : start + 100]]
            queue_once(session, *drafts, now=clock.now(), message_id_domain=DOMAIN)

    files = [path for path in (tmp_path / "outgoing").rglob("*") if path.is_file()]
    assert [path.name for path in files] == [sha256_hex(PDF)]
    with store.session() as session:
        assert session.exec(select(func.count()).select_from(Outbox)).one() == 300
        links = session.exec(select(OutboxPart)).all()
    assert len(links) == 300 and {(link.sha256, link.position) for link in links} == {(sha256_hex(PDF), 0)}

    assert dispatch(store, clock, port, blobs, concurrency=4) == 300
    assert sorted(to for _, _, (to,) in recorder.envelopes) == liaisons
    for raw in recorder.received:
        message = email.message_from_bytes(raw, policy=default)
        assert isinstance(message, EmailMessage)
        (part,) = message.iter_attachments()
        assert (part.get_filename(), part.get_payload(decode=True)) == (PDF_NAME, PDF)


def test_each_letter_carries_its_own_parts_in_their_order(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock, blobs: BlobStore
) -> None:
    """GIVEN letters queued together with different parts or none (queue_once), and one queued twice
    under its key (queue), WHEN they are sent, THEN each letter carries exactly its parts, in the
    order given, and the second queueing added no parts."""
    recorder, port = smtp_server
    pdf, agenda = attach(blobs, PDF, PDF_NAME), attach(blobs, AGENDA, "会议议程.docx")
    with store.session() as session:
        queue_once(
            session,
            draft("a", "a@unit.example.cn", [pdf, agenda]),
            draft("b", "b@unit.example.cn"),
            draft("c", "c@unit.example.cn", [agenda]),
            now=clock.now(),
            message_id_domain=DOMAIN,
        )
    queued(store, clock, draft("d", "d@unit.example.cn", [agenda, pdf]))
    queued(store, clock, draft("d", "d@unit.example.cn", [agenda, pdf]))

    assert dispatch(store, clock, port, blobs) == 4
    carried = {to: filenames(raw) for (_, _, (to,)), raw in zip(recorder.envelopes, recorder.received, strict=True)}
    assert carried == {
        "a@unit.example.cn": [PDF_NAME, "会议议程.docx"],
        "b@unit.example.cn": [],
        "c@unit.example.cn": ["会议议程.docx"],
        "d@unit.example.cn": ["会议议程.docx", PDF_NAME],
    }
    with store.session() as session:
        assert session.exec(select(func.count()).select_from(OutboxPart)).one() == 5


@pytest.mark.parametrize("fault", ["missing", "damaged", "no part store"])
def test_a_letter_whose_part_cannot_be_read_is_dead_with_the_reason_and_the_next_is_delivered(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock, blobs: BlobStore, fault: str
) -> None:
    """GIVEN two letters taken together, the first carrying a file that is gone from the blob folder
    (or was changed there, or a sender given no blob store), WHEN they are sent, THEN the first is
    dead with a reason that names the file, and the second is delivered with its PDF."""
    recorder, port = smtp_server
    lost = attach(blobs, b"%PDF-1.7 the agenda", "会议议程.pdf")
    first, second = queued(
        store,
        clock,
        draft("lost", "wangfang@hongda-machinery.cn", [lost]),
        draft("kept", "lisi@unit.example.cn", [] if fault == "no part store" else [attach(blobs, PDF, PDF_NAME)]),
    )
    if fault == "missing":
        blobs.path(lost.sha256).unlink()
    elif fault == "damaged":
        blobs.path(lost.sha256).write_bytes(b"%PDF-1.7 cut sho")

    assert dispatch(store, clock, port, None if fault == "no part store" else blobs) == 1
    dead = outbox_row(store, first)
    why = {"missing": "is missing from", "damaged": "is damaged", "no part store": "given no store"}[fault]
    assert dead.state == OutboxState.DEAD
    assert (dead.last_error or "").startswith(
        f"the letter cannot be built: StoreError: part 会议议程.pdf (sha256 {lost.sha256})"
    )
    assert why in (dead.last_error or "")
    assert outbox_row(store, second).state == OutboxState.SENT
    assert [to for _, _, (to,) in recorder.envelopes] == ["lisi@unit.example.cn"]
    assert filenames(recorder.received[0]) == ([] if fault == "no part store" else [PDF_NAME])


def test_a_letter_without_parts_is_written_as_before(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock, blobs: BlobStore
) -> None:
    """GIVEN a letter without parts, WHEN it is built, THEN its bytes are those of the letter before
    letters carried parts (boundary aside); sent by a dispatcher that has a blob store, it arrives as
    build_message writes it."""
    row = Outbox(
        id=7,
        dedupe_key="k",
        kind="circular",
        recipients=["wangfang@hongda-machinery.cn", "lisi@xn--fsqu00a.xn--fiqs8s"],
        subject="关于召开2026年度联络员工作会议的通知",
        text="各位联络员：\n\n请见附件。\n",
        html="<p>各位联络员：</p><p>请见附件。</p>",
        message_id="20261124013000.0123456789abcdef@mailflow.test",
        in_reply_to="orig@hongda.cn",
        references="a@b orig@hongda.cn",
        created_at=datetime(2026, 11, 24, 1, 30, tzinfo=UTC),
    )
    assert without_boundaries(build_message(row, sender=SENDER, sender_name=SENDER_NAME)) == BEFORE

    recorder, port = smtp_server
    (row_id,) = queued(store, clock, draft("plain", "wangfang@hongda-machinery.cn"))
    assert dispatch(store, clock, port, blobs) == 1
    rebuilt = build_message(outbox_row(store, row_id), sender=SENDER, sender_name=SENDER_NAME)
    assert without_boundaries(recorder.received[0]) == without_boundaries(rebuilt)


def sample(kind: str) -> OutgoingPart:
    return {
        "pdf": OutgoingPart(sha256_hex(PDF), PDF_NAME, "application/pdf"),
        "image": OutgoingPart(sha256_hex(b"png"), "会徽.png", "image/png", inline=True, content_id="emblem@chamber"),
        "invitation": OutgoingPart(sha256_hex(INVITATION), "", "text/calendar; method=REQUEST"),
        "calendar": OutgoingPart(sha256_hex(INVITATION), "日程.ics", "text/calendar"),
    }[kind]


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["pdf"], ["multipart/mixed", ["multipart/alternative", "text/plain", "text/html"], "application/pdf"]),
        (["image"], ["multipart/related", ["multipart/alternative", "text/plain", "text/html"], "image/png"]),
        (
            ["invitation"],
            [
                "multipart/mixed",
                ["multipart/alternative", "text/plain", "text/html", "text/calendar"],
                "application/ics",
            ],
        ),
        (["calendar"], ["multipart/mixed", ["multipart/alternative", "text/plain", "text/html"], "text/calendar"]),
    ],
)
def test_a_letter_has_only_the_layers_its_parts_need(kinds: list[str], expected: list[Any]) -> None:
    """An attachment alone adds mixed, an inline image alone related; an invitation is an alternative
    and invite.ics; a calendar without a method (not an iMIP request) is an attachment like any other."""
    row = Outbox(dedupe_key="k", kind="circular", recipients=["a@unit.example.cn"], subject="通知", message_id="m@d")
    parts = [wire_part(sample(kind), b"content") for kind in kinds]
    raw = build_message(row, sender=SENDER, sender_name=SENDER_NAME, parts=parts)
    assert shape(email.message_from_bytes(raw, policy=default)) == expected


def test_a_part_is_checked_when_it_is_made(blobs: BlobStore) -> None:
    """A malformed part fails the workflow that queues it, not the letter when it goes."""
    digest = sha256_hex(PDF)
    with pytest.raises(ValueError, match="sha256"):
        OutgoingPart("not-a-digest", PDF_NAME)
    with pytest.raises(ValueError, match="media type"):
        OutgoingPart(digest, PDF_NAME, "pdf")
    with pytest.raises(ValueError, match="Content-ID"):
        OutgoingPart(digest, "会徽.png", "image/png", inline=True, content_id="<emblem@chamber>")
    guessed = attach(blobs, png(), "会徽.png", inline=True)
    assert (guessed.content_type, guessed.inline) == ("image/png", True)
    assert guessed.cid == f"cid:{guessed.content_id}" and guessed.sha256 == sha256_hex(png())
