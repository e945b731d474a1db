"""One circular, from mail or from the command line: checked, then numbered, recorded and queued as
one letter per address, all in the caller's transaction.

Everything that can refuse it (no subject, no text, files over the limit, codes that name no unit,
nobody to send to) is checked before a file is stored or a row written, so a refused circular leaves
nothing behind. What is queued is a function of the circular's own reference (the dedupe key
`circular:<reference>:<address>`), and the reference, the record and every letter commit together,
so a circular goes once to each address or not at all. The letter is rendered once and queued for
everyone at once (Tx.letters): the same SQL for 20 liaisons as for 400, one INSERT more per thousand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailflow.reasons import Reason
from mailflow.store import Circular
from mailflow.workflows.circular.reading import LABELS, letter_lines
from mailflow.workflows.circular.recipients import LEADER, LIAISON, gather
from mailflow.workflows.contract import Words
from mailflow.workflows.tx import Tx

PREFIX = "TZ"  # 通知
KIND = "circular"
MB = 1024 * 1024
_KEY_LENGTH = 200  # outbox.dedupe_key


@dataclass(frozen=True)
class CircularPolicy:
    max_attachment_bytes: int = 25 * MB  # the files of one circular, in total
    proof: str = "either"  # security.commands: what proves a mail comes from the secretariat
    digest_days: int = 7  # the digest reports the delivery of circulars this recent


@dataclass(frozen=True)
class File:
    name: str
    data: bytes


@dataclass(frozen=True)
class Request:
    subject: str
    body: str
    audience: str  # liaisons | leaders | all
    sender: str  # the secretariat address, or cli:<user>
    via: str  # mail | cli
    units: tuple[str, ...] = ()  # codes; () for every unit
    files: tuple[File, ...] = ()
    inbound_id: int | None = None


@dataclass(frozen=True)
class Queued:
    circular: Circular
    without: tuple[str, ...] = ()  # units that got nothing
    files: tuple[File, ...] = field(default=(), repr=False)


def too_large(sizes: Sequence[int], limit: int, code: str = "circular_too_large") -> Reason | None:
    """The refusal (`code`) of files that total over `limit` bytes (the CLI asks before it reads them);
    a circular's, and a request's form, which is held to the same limit."""
    total = sum(sizes)
    if total <= limit:
        return None
    return Reason(code, {"size_mb": round(total / MB, 1), "limit_mb": f"{round(limit / MB, 1):g}"})


def send(request: Request, tx: Tx, policy: CircularPolicy) -> Queued | tuple[Reason, ...]:
    """Queue the circular, or say why not (nothing is stored then)."""
    problems = [
        *([Reason("circular_no_subject")] if not request.subject.strip() else []),
        *([Reason("circular_no_body")] if not request.body.strip() else []),
        *filter(None, [too_large([len(f.data) for f in request.files], policy.max_attachment_bytes)]),
    ]
    if problems:
        return tuple(problems)
    audience = gather(tx.session, request.audience, request.units)
    if audience.unknown:
        return (Reason("circular_unknown_units", {"codes": "、".join(audience.unknown)}),)
    if not audience.recipients:
        return (Reason("circular_no_recipients", {"audience": LABELS[request.audience][0]}),)
    parts = [tx.attach(f.data, f.name) for f in request.files]
    reference = tx.reference(PREFIX)
    values = {"subject": request.subject.strip(), "lines": letter_lines(request.body.strip("\n"))}
    to = {_key(reference, r.address): r.address for r in audience.recipients}
    tx.letters(KIND, to, values, reference=reference, attachments=parts)
    row = tx.add(
        Circular(
            reference=reference, inbound_id=request.inbound_id, subject=request.subject.strip()[:2000],
            audience=request.audience, units=list(request.units), sender=request.sender[:320], via=request.via,
            created_at=tx.now, letters=len(to), to_liaisons=audience.count(LIAISON), to_leaders=audience.count(LEADER),
            attachments=len(parts),
        )
    )  # fmt: skip
    return Queued(row, audience.without, request.files)


def _key(reference: str, address: str) -> str:
    """circular:<reference>:<address>, the address lower-cased (or its digest, if it would not fit)."""
    key = f"circular:{reference}:{address.lower()}"
    if len(key) <= _KEY_LENGTH:
        return key
    return f"circular:{reference}:sha256:{hashlib.sha256(address.lower().encode()).hexdigest()}"


def report(queued: Queued) -> dict[str, object]:
    """What the sender is told: the reference, and how many letters went to whom."""
    row = queued.circular
    return {
        "reference": row.reference,
        "subject": row.subject,
        "audience": Words(*LABELS.get(row.audience, (row.audience, row.audience))),
        "units": Words("、".join(row.units), ", ".join(row.units)),
        "letters": row.letters,
        "liaisons": row.to_liaisons,
        "leaders": row.to_leaders,
        "files": [{"name": f.name, "size": _size(len(f.data))} for f in queued.files],
        "without": list(queued.without[:20]),
        "more_without": max(0, len(queued.without) - 20),
        "repeated": False,  # a copy of a mail that made this circular already: nothing sent again
    }


def _size(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{max(1, round(size / 1024))} KB"
