"""Recognise reports that programs send about mail: abuse reports (ARF, RFC 5965) and DMARC aggregate reports (RFC 7489).

Neither is written by a person nor read by one, so answering either only feeds a robot; both
are recorded and ignored. The evidence is what a person would not write: an ARF report part,
a report file named `receiver!policy-domain!begin!end`, or the report's subject line. An
archive attached to a person's mail is not evidence.
"""

from __future__ import annotations

import re

from mailflow.parse import ParsedMail

_FEEDBACK_REPORT = re.compile(r"report-type\s*=\s*\"?feedback-report\b", re.IGNORECASE)
# receiver "!" policy-domain "!" begin "!" end [ "!" unique-id ] "." extension (RFC 7489, 7.2.1.1).
_DMARC_FILE = re.compile(
    r"^[a-z0-9._-]+![a-z0-9._-]+!\d{9,11}!\d{9,11}(![^!/\\]+)?\.(xml|xml\.gz|zip|gz)$",
    re.IGNORECASE,
)
_DMARC_SUBJECT = re.compile(r"\bReport\s+Domain:\s*\S.*\bReport-ID:", re.IGNORECASE)


def machine_report_reason(mail: ParsedMail) -> str | None:
    """What shows `mail` to be an abuse or DMARC aggregate report, or None."""
    return _abuse_report(mail) or _dmarc_aggregate_report(mail)


def _abuse_report(mail: ParsedMail) -> str | None:
    content_type = mail.header("content-type") or ""
    if "multipart/report" in content_type.lower() and _FEEDBACK_REPORT.search(content_type):
        return "multipart/report; report-type=feedback-report"
    if any(a.content_type == "message/feedback-report" for a in mail.attachments):
        return "message/feedback-report part"
    return None


def _dmarc_aggregate_report(mail: ParsedMail) -> str | None:
    for attachment in mail.attachments:
        if _DMARC_FILE.match(attachment.filename.strip()):
            return f"DMARC aggregate report {attachment.filename.strip()[:120]}"
    if _DMARC_SUBJECT.search(mail.subject):
        return "DMARC aggregate report: subject Report Domain … Report-ID"
    return None
