"""GIVEN machine reports (abuse reports in ARF, DMARC aggregate reports) WHEN a pass runs THEN they are
ignored and never answered; a person's mail with an archive attached is still answered."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from builders import LIAISON, deliver, make_app, make_mail
from sqlmodel import select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.outbound.outbox import Draft, queue
from mailflow.outbound.render import Rendered
from mailflow.store import InboundMessage, Outbox

DOMAIN = "mailflow.chamber.example.org"
FILE_NAME = "google.com!chamber.example.org!1700000000!1700086400"
SUBJECT = "Report Domain: chamber.example.org Submitter: google.com Report-ID: 16793628409735112343"
FEEDBACK = b"""<?xml version="1.0" encoding="UTF-8" ?>
<feedback><report_metadata><org_name>google.com</org_name><report_id>16793628409735112343</report_id>
</report_metadata><policy_published><domain>chamber.example.org</domain><p>none</p></policy_published>
</feedback>
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path)
    yield application
    application.close()


def one_pass(app: App, tmp_path: Path, raw: bytes) -> InboundMessage:
    deliver(tmp_path / "Maildir", raw)
    assert Daemon(app).run_once().errors == []
    with app.store.session() as session:
        return session.exec(select(InboundMessage)).one()


def letters(app: App) -> list[Outbox]:
    """Every letter queued but the daily digest, which answers nobody."""
    with app.store.session() as session:
        return list(session.exec(select(Outbox).where(Outbox.kind != "digest")).all())


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, data)
    return out.getvalue()


def arf(*, sender: str = "staff@hotmail.com", about: str = "<ack-1@mailflow.chamber.example.org>") -> bytes:
    """An abuse report as mailbox providers send it (RFC 5965), about a letter of ours."""
    return f"""From: <{sender}>
To: mishuchu@chamber.example.org
Subject: complaint about message from 203.0.113.7
Date: Tue, 24 Nov 2026 09:30:00 +0000
Message-ID: <arf-1@hotmail.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"

--ARF
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report for an email message received from IP 203.0.113.7.

--ARF
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Hotmail FBL
Version: 1
Original-Mail-From: <mishuchu@chamber.example.org>
Arrival-Date: Tue, 24 Nov 2026 09:00:00 +0000
Reported-Domain: chamber.example.org

--ARF
Content-Type: message/rfc822

From: mishuchu@chamber.example.org
To: someone@hotmail.com
Subject: =?utf-8?b?44CQ5bey5pS25Yiw44CR?=
Message-ID: {about}

body
--ARF--
""".encode()


REPORTS = {
    "google, zip, report subject": {
        "sender": "noreply-dmarc-support@google.com",
        "subject": SUBJECT,
        "attachments": [(f"{FILE_NAME}.zip", zipped(f"{FILE_NAME}.xml", FEEDBACK), "application/zip")],
    },
    "outlook, xml.gz": {
        "sender": "dmarcreport@microsoft.com",
        "subject": "Report Domain: chamber.example.org Submitter: enterprise.protection.outlook.com Report-ID: <a1b2>",
        "attachments": [
            (
                "enterprise.protection.outlook.com!chamber.example.org!1700000000!1700086400.xml.gz",
                gzip.compress(FEEDBACK),
                "application/gzip",
            )
        ],
    },
    "file name alone, with a unique id": {
        "sender": "dmarc@qq.com",
        "subject": "DMARC 聚合报告",
        "attachments": [("qq.com!chamber.example.org!1700000000!1700086400!a1b2c3.xml", FEEDBACK, "text/xml")],
    },
    "subject alone": {
        "sender": "dmarc-reports@example.net",
        "subject": "[Preview] " + SUBJECT,
        "attachments": [("report.xml.gz", gzip.compress(FEEDBACK), "application/octet-stream")],
    },
}


@pytest.mark.parametrize("name", list(REPORTS))
def test_a_dmarc_aggregate_report_is_ignored_and_not_answered(app: App, tmp_path: Path, name: str) -> None:
    """GIVEN a DMARC aggregate report from a reporting address we do not know WHEN a pass runs THEN
    it is ignored as a machine report, and no letter is queued (a stranger would be told how to register)."""
    row = one_pass(app, tmp_path, make_mail(body="This is a DMARC aggregate report.", **REPORTS[name]))
    assert (row.state, [r["code"] for r in row.reasons]) == ("ignored", ["machine_report"])
    assert "DMARC" in row.reasons[0]["en"]
    assert letters(app) == []


def test_an_abuse_report_is_ignored_and_not_answered(app: App, tmp_path: Path) -> None:
    """GIVEN an abuse report (ARF) from a provider's feedback loop WHEN a pass runs THEN it is ignored
    as a machine report and nothing is queued."""
    row = one_pass(app, tmp_path, arf())
    assert (row.state, [r["code"] for r in row.reasons]) == ("ignored", ["machine_report"])
    assert "feedback-report" in row.reasons[0]["en"]
    assert letters(app) == []


def test_an_abuse_report_from_postmaster_about_our_letter_is_no_bounce_of_it(app: App, tmp_path: Path) -> None:
    """GIVEN a letter we sent WHEN postmaster@ sends an abuse report about it THEN the report is ignored
    as a machine report: the letter is not marked bounced (a complaint is not a failed delivery)."""
    with app.store.session() as session:
        sent = queue(
            session,
            Draft(key="ack:1", kind="ack_submission", recipients=[LIAISON], rendered=Rendered("回执", "正文\n", "")),
            now=datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
            message_id_domain=DOMAIN,
        )
        sent.state, ours = "sent", sent.message_id
    row = one_pass(app, tmp_path, arf(sender="postmaster@hongda-machinery.cn", about=f"<{ours}>"))
    assert (row.state, [r["code"] for r in row.reasons]) == ("ignored", ["machine_report"])
    assert [letter.state for letter in letters(app)] == ["sent"]


def test_a_strangers_mail_with_an_archive_attached_is_still_answered(app: App, tmp_path: Path) -> None:
    """GIVEN a person's mail with a .zip attached (not named like a report) WHEN a pass runs THEN it is
    held as a stranger's mail and answered with how to register, as before."""
    raw = make_mail(
        sender="stranger@example.net",
        subject="公司资料",
        attachments=[("公司资料.zip", zipped("资料.txt", "资料".encode()), "application/zip")],
    )
    row = one_pass(app, tmp_path, raw)
    assert (row.state, [r["code"] for r in row.reasons]) == ("held", ["unknown_sender"])
    assert [letter.recipients for letter in letters(app)] == [["stranger@example.net"]]
