"""通知: a circular from the secretariat to every liaison, every unit leader, or both (Art. 6(1)).

By mail: the rules make a secretariat mail a circular (rules/20-intents.yaml: sent to the circular
address, mishuchu+tongzhi@…, or with a line `#通知 全体联络员|全体负责人|全体`); the address's rule
names the audience as its category, a `#通知` line overrides it. The mail must be proved to come
from the secretariat, by the rule commands use (workflows.proof); one that is not is held, never
sent and never answered. A liaison's or a leader's mail to that address is no circular: the rules
do not route it here, and the handler refuses it if an edited rule does. The subject and the text
go out as written (the `#通知` line taken out), with the files attached, under the chamber's
signature; the sender gets a report with the reference and the count of letters, and the digest
follows each circular's delivery for `CircularPolicy.digest_days` days. A second run of the same
mail (a reprocess) finds its circular by the message and sends nothing again.

From the command line: `mailflow circular send` runs the same `sending.send`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from mailflow.reasons import Reason
from sqlalchemy import func
from sqlmodel import col, select

from mailflow.store import Circular, InboundMessage, InboundState, InfoRequest
from mailflow.workflows import proof
from mailflow.workflows.circular import status
from mailflow.workflows.circular.reading import AUDIENCES, LABELS, LIAISONS, read_circular
from mailflow.workflows.circular.sending import CircularPolicy, File, Queued, Request, report, send
from mailflow.workflows.contract import Handled, Incoming, Reply, Workflow
from mailflow.workflows.tx import Tx

__all__ = ["CircularPolicy", "Circulars", "File", "Queued", "Request", "send"]

Made = TypeVar("Made", Circular, InfoRequest)  # the records a secretariat mail makes, once


class Circulars:
    def __init__(self, policy: CircularPolicy | None = None) -> None:
        self.policy = policy or CircularPolicy()
        proof.checked(self.policy.proof)

    def workflow(self) -> Workflow:
        return Workflow(
            name="circulars",
            intents={"circular": self.handle},
            labels={"circular": ("通知", "circular")},
            commands=(status.spec(),),
            digest=(status.section(self.policy.digest_days),),
            samples={"circular": SAMPLE_LETTER, "circular_report": SAMPLE_REPORT},
        )

    def handle(self, message: Incoming, tx: Tx) -> Handled:
        if message.role != "secretariat":
            return Handled(InboundState.REJECTED, (Reason("circular_secretariat_only"),))
        if not proof.proven(message, tx.session, self.policy.proof):
            why = Reason("unauthenticated_circular", {"email": message.sender, "policy": self.policy.proof})
            return Handled(InboundState.HELD, (why,))
        done = sent_before(message, tx, Circular)
        if done is not None:  # sent when the mail first came: once, whatever happens after
            values = report(Queued(done)) | {"repeated": done.inbound_id != message.inbound_id}
            return Handled(reference=done.reference, reply=Reply("circular_report", values))
        reading = read_circular(message.mail.subject, message.mail.text)
        if reading.problems:
            return Handled(InboundState.REJECTED, reading.problems)
        audience = reading.audience or message.category or (LIAISONS if reading.found else None)
        if audience is None:
            return Handled(InboundState.REJECTED, (Reason("circular_no_line"),))
        if audience not in AUDIENCES:  # a rule's category names no audience
            return Handled(InboundState.REJECTED, (Reason("circular_audience", {"word": audience}),))
        request = Request(
            subject=reading.subject, body=reading.body, audience=audience, sender=message.sender, via="mail",
            units=reading.units, files=carried(message), inbound_id=message.inbound_id,
        )  # fmt: skip
        outcome = send(request, tx, self.policy)
        line = f"通知《{reading.subject[:200]}》→ {LABELS[audience][0]}" + (
            f" {','.join(reading.units)}" if reading.units else ""
        )
        if isinstance(outcome, tuple):
            audit(tx, request, line, None, "；".join(r.zh for r in outcome))
            return Handled(InboundState.REJECTED, outcome)
        audit(tx, request, line, outcome, "")
        return Handled(reference=outcome.circular.reference, reply=Reply("circular_report", report(outcome)))


def sent_before(message: Incoming, tx: Tx, model: type[Made]) -> Made | None:
    """The circular (or request: `model`) this mail made already: when it ran before (a reprocess),
    or when a copy of it did (the same Message-ID, sender and subject: a copy the archiver kept as a
    duplicate, then reprocessed by hand). A Message-ID alone is not enough: some mailers reuse one."""
    done = tx.find(model, "inbound_id", message.inbound_id)
    if done is not None or not message.mail.message_id:
        return done
    copies = (
        select(model)
        .join(InboundMessage, col(InboundMessage.id) == col(model.inbound_id))
        .where(
            col(InboundMessage.message_id) == message.mail.message_id[:998],
            func.lower(col(InboundMessage.sender)) == message.sender,
            col(InboundMessage.subject) == message.mail.subject[:2000],
        )
    )
    return tx.session.exec(copies).first()


def carried(message: Incoming) -> tuple[File, ...]:
    """The files the mail carries, as checked (safe names): all but the small inline images of a
    signature or a logo, which only its HTML showed."""
    files = []
    for attachment, check in zip(message.mail.attachments, message.checks, strict=True):
        if check.inline and check.width is not None and not check.is_photo:
            continue
        files.append(File(check.safe_name, attachment.data))
    return tuple(files)


def audit(tx: Tx, request: Request, line: str, queued: Queued | None, refusal: str) -> None:
    """The circular in the audit: who, by mail or the command line, what, and its reference or refusal."""
    row = queued.circular if queued else None
    result = f"{row.letters} 封已排队（联络员 {row.to_liaisons}，负责人 {row.to_leaders}）" if row else refusal
    tx.audit(
        actor=request.sender, role="secretariat", via=request.via, command="circular", line=line,
        record=row.reference if row else None, ok=row is not None, result=result, inbound_id=request.inbound_id,
    )  # fmt: skip


SAMPLE_LETTER: dict[str, Any] = {
    "subject": "关于召开2026年度联络员工作会议的通知",
    "lines": [
        ["各会员单位联络员："],
        [],
        ["经研究，定于2026年12月8日（星期二）上午9:00在商会三楼会议室召开2026年度联络员工作会议，请准时参加。"],
        [],
        ["一、会议内容：总结本年度信息报送工作，布置2027年工作。"],
        ["二、请于12月4日前回复参会回执。"],
        [],
        ["会务联系：张敏，028-86001234"],
    ],
}
SAMPLE_REPORT: dict[str, Any] = {
    "name": "秘书处",
    "original_subject": "#通知 全体联络员 关于召开2026年度联络员工作会议的通知",
    "received_at": "2026年11月24日 09:30",
    "reference": "TZ-2026-0001",
    "subject": "关于召开2026年度联络员工作会议的通知",
    "audience": "全体联络员",
    "units": "",
    "letters": 286,
    "liaisons": 286,
    "leaders": 0,
    "files": [{"name": "会议回执.docx", "size": "36 KB"}, {"name": "会议议程.pdf", "size": "1.2 MB"}],
    "without": ["成都华西重工有限公司"],
    "more_without": 0,
    "repeated": False,
}
