"""Recognise automatic replies (RFC 3834 and common practice) and bounces (RFC 3464 and common practice).

Answering either risks a mail loop, so both are recorded and ignored. Each check returns a
short reason naming the header that gave it away, or None.
"""

from __future__ import annotations

import re

from mailflow.parse import ParsedMail

_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
_AUTO_SUBJECT = re.compile(
    r"^\s*(自动回复|自動回覆|自动答复|auto(matic)?[ -]?(reply|response)|out of (the )?office|"
    r"休假|假期自动回复|vacation|abwesenheitsnotiz|réponse automatique)",
    re.IGNORECASE,
)
_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|mdaemon)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|delivery status notification|delivery (has )?failed|failure notice|returned mail|"
    r"mail delivery (failed|failure|system)|non[- ]?delivery|delivery notification|退信|系统退信|投递失败|"
    r"无法投递|未能送达|邮件被退回)",
    re.IGNORECASE,
)


def bounce_reason(mail: ParsedMail) -> str | None:
    content_type = (mail.header("content-type") or "").lower()
    if "multipart/report" in content_type and "delivery-status" in content_type:
        return "multipart/report; report-type=delivery-status"
    sender = mail.from_.email if mail.from_ else ""
    if _DAEMON.match(sender):
        return f"From: {sender}"
    if any(a.content_type == "message/delivery-status" for a in mail.attachments):
        return "message/delivery-status part"
    return_path = (mail.header("return-path") or "").strip()
    if return_path in ("<>", "") and mail.header("return-path") is not None and _BOUNCE_SUBJECT.search(mail.subject):
        return "empty Return-Path and a bounce subject"
    if mail.header("x-failed-recipients"):
        return "X-Failed-Recipients"
    return None


def auto_reply_reason(mail: ParsedMail) -> str | None:
    submitted = (mail.header("auto-submitted") or "").strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted}"
    precedence = (mail.header("precedence") or "").strip().lower()
    if precedence in _PRECEDENCE:
        return f"Precedence: {precedence}"
    for header in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-response-suppress"):
        if mail.header(header) is not None:
            return header.title()
    if (mail.header("x-apple-action") or "").strip().upper() == "VACATION":
        return "X-Apple-Action: VACATION"
    if mail.header("list-id") or mail.header("list-unsubscribe"):
        return "mailing list (List-Id)"
    if (mail.header("return-path") or "").strip() == "<>":
        return "empty Return-Path"
    if _AUTO_SUBJECT.search(mail.subject):
        return f"subject {mail.subject[:40]!r}"
    return None
