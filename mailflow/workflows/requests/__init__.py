"""报送任务: the secretariat asks the liaisons for information by a due date (Art. 4, Art. 6(2)).

By mail: a secretariat mail with a line `#征集 标题 截止 2026-12-15 全体联络员` (or unit codes; in the
subject, or a line of the body, whose title is then the subject; `#request … due … all`) and the
request's text in the body; proved like a command (workflows.proof), else held unsent and
unanswered. From the command line: `mailflow requests create`. Either way `sending.create` numbers
it ZJ-…, sends each unit's active liaison the letter, and the sender gets a report: the letters,
and each unit asked that has no active liaison (recorded, not lost). A second run of the same mail
finds its request and sends nothing again.

Answers (responses.py) are follow-ups of ZJ-…; reminders and the close are daily jobs
(deadlines.py); the digest's sections and the standing of each request and liaison are in
sections.py and standing.py.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from mailflow.jobs.scheduler import JobContext
from mailflow.outbound.render import Renderer
from mailflow.reasons import Reason
from mailflow.store import InboundState, InfoRequest
from mailflow.workflows import proof, submission
from mailflow.workflows.circular import carried, sent_before
from mailflow.workflows.contract import Handled, Handler, Incoming, Reply, Workflow
from mailflow.workflows.requests import deadlines
from mailflow.workflows.requests.calendar import WorkCalendar
from mailflow.workflows.requests.reading import read_request
from mailflow.workflows.requests.responses import Responses
from mailflow.workflows.requests.samples import SAMPLES
from mailflow.workflows.requests.sections import sections
from mailflow.workflows.requests.sending import REPORT, Ask, Created, RequestPolicy, create, report
from mailflow.workflows.tx import Tx

__all__ = ["Ask", "Created", "RequestPolicy", "Requests", "WorkCalendar", "audit", "create", "report"]


class Requests:
    def __init__(
        self,
        policy: RequestPolicy | None = None,
        *,
        renderer: Renderer | None = None,
        zone: ZoneInfo | None = None,
        message_id_domain: str = "mailflow.invalid",
        submit: Handler = submission.handle,
    ) -> None:
        """`renderer`: the letters' templates, which the daily jobs need (no jobs without it);
        `submit`: the submission workflow's handler, which makes a response that carries something."""
        self.policy = policy or RequestPolicy()
        proof.checked(self.policy.proof)
        self.renderer, self.zone = renderer, zone or ZoneInfo("Asia/Shanghai")
        self.message_id_domain = message_id_domain
        self.responses = Responses(submit)

    def workflow(self) -> Workflow:
        return Workflow(
            name="requests",
            intents={"info_request": self.handle, "request_response": self.responses.unlinked},
            follow_ups={"ZJ": self.responses.follow_up},
            labels={"info_request": ("报送任务", "request for information"), "request_response": ("报送任务反馈", "answer to a request")},
            jobs=deadlines.jobs(self.policy, self.job_tx) if self.renderer is not None else (),
            digest=sections(self.policy, self.zone),
            samples=SAMPLES,
        )  # fmt: skip

    def job_tx(self, job: JobContext) -> Tx:
        return Tx(
            job.session, now=job.now, zone=self.zone, message_id_domain=self.message_id_domain, renderer=self.renderer
        )

    def handle(self, message: Incoming, tx: Tx) -> Handled:
        if message.role != "secretariat":
            return Handled(InboundState.REJECTED, (Reason("request_secretariat_only"),))
        if not proof.proven(message, tx.session, self.policy.proof):
            why = Reason("unauthenticated_request", {"email": message.sender, "policy": self.policy.proof})
            return Handled(InboundState.HELD, (why,))
        done = sent_before(message, tx, InfoRequest)
        if done is not None:  # made when the mail first came: once, whatever happens after
            values = report(Created(done), self.policy) | {"repeated": done.inbound_id != message.inbound_id}
            return Handled(reference=done.reference, reply=Reply(REPORT, values))
        today = tx.local().date()
        reading = read_request(message.mail.subject, message.mail.text, today)
        line = f"征集《{reading.title[:200]}》截止 {reading.due or '?'} → {'、'.join(reading.units) or '全体联络员'}"
        if reading.problems or reading.due is None:
            audit(tx, message.sender, "mail", line, None, "；".join(r.zh for r in reading.problems), message.inbound_id)
            return Handled(InboundState.REJECTED, reading.problems)
        ask = Ask(
            reading.title, reading.body, reading.due, reading.units, message.sender, "mail", message.inbound_id,
            files=carried(message),
        )  # fmt: skip
        outcome = create(ask, tx, self.policy)
        if isinstance(outcome, tuple):
            audit(tx, ask.sender, "mail", line, None, "；".join(r.zh for r in outcome), ask.inbound_id)
            return Handled(InboundState.REJECTED, outcome)
        audit(tx, ask.sender, "mail", line, outcome, "", ask.inbound_id)
        return Handled(reference=outcome.request.reference, reply=Reply(REPORT, report(outcome, self.policy)))


def audit(
    tx: Tx, sender: str, via: str, line: str, created: Created | None, refusal: str, inbound_id: int | None
) -> None:
    """The request in the audit: who, by mail or the command line, what, and its reference or refusal."""
    row = created.request if created else None
    result = f"{row.letters} 封已排队，{len(row.unreached)} 家无在岗联络员" if row else refusal
    tx.audit(
        actor=sender, role="secretariat", via=via, command="request", line=line,
        record=row.reference if row else None, ok=row is not None, result=result, inbound_id=inbound_id,
    )  # fmt: skip
