"""变更 (Art. 4, Art. 6(2)): a unit names a new liaison, or reports a change of its details.

Only the unit's leader or its current liaison may ask; anyone else is held for the secretariat.
The request gets its BG- reference, the secretariat is told at once with the command lines (as for
a registration), and nothing changes until `#批准` (mailflow.workflows.decisions): then the old
liaison is `replaced` with the date and the new one `active`, or the unit's fields are written,
each with its line of history.
"""

from __future__ import annotations

from collections.abc import Mapping

from mailflow.members.form import LABELS, Form, read_form
from mailflow.members.registry import active_liaisons, propose
from mailflow.reasons import Reason
from mailflow.store import InboundState, Registration, RegistrationState, Unit
from mailflow.workflows.contract import Handled, Incoming, Words
from mailflow.workflows.registration import Secretariat, acknowledged, active_elsewhere, form_lines, match_unit
from mailflow.workflows.tx import Tx

# The unit's details a liaison or leader may report changed (the credit code names the unit; it does not change).
UNIT_DETAILS = ("name", "member_class", "address", "leader_name", "leader_email", "leader_phone")
LIAISON_EXAMPLE = Words(
    "请按以下格式写明后重新发送：新联络员：姓名；职务：职务；手机：号码；邮箱：邮箱地址",
    "Write it as: 新联络员：name；职务：position；手机：mobile；邮箱：email — and send it again",
)
UNIT_EXAMPLE = Words(
    "请逐项写明变更后的内容后重新发送，例如：单位地址：成都市……；单位负责人：张三；负责人手机：138……",
    "Write each new value on its own line (e.g. 单位地址：…；单位负责人：…；负责人手机：…) and send it again",
)


class Changes:
    def __init__(self, secretariat: Secretariat) -> None:
        self.secretariat = secretariat

    def liaison(self, message: Incoming, tx: Tx) -> Handled:
        """联络员变更: the new liaison's name and email from the mail; pending until approved."""
        form = read_form(message.mail.text)
        unit, refused = _own_unit(message, tx, form)
        if unit is None:
            return refused
        email, name = form.get("liaison_email"), form.get("liaison_name")
        if form.problems:
            return _rejected(form)
        if not email or not name:
            missing = Words("新联络员的" + "和".join(w for w, v in (("姓名", name), ("邮箱", email)) if not v),
                            "the new liaison's " + " and ".join(w for w, v in (("name", name), ("email", email)) if not v))  # fmt: skip
            return _incomplete(missing, LIAISON_EXAMPLE)
        held = active_elsewhere(tx.session, email)
        if held is not None:
            return Handled(InboundState.REJECTED, (Reason("already_liaison", {"email": email, "unit": held}),))
        reg = self._open(message, tx, unit, "liaison_change", form.values)
        liaison = propose(
            tx.session, unit, name, email, phone=form.get("liaison_phone"), position=form.get("liaison_position"),
            now=tx.now, why=f"变更申请 {reg.reference}",
        )  # fmt: skip
        reg.liaison_id = liaison.id
        current = "、".join(f"{x.name}（{x.email}）" for x in active_liaisons(tx.session, unit)) or "（无）"
        details = [{"label": Words("现任联络员", "Current liaison"), "value": current}, *form_lines(form.values)]
        self.secretariat.tell(tx, reg, details)
        return acknowledged(reg, details)

    def unit(self, message: Incoming, tx: Tx) -> Handled:
        """单位信息变更: the fields that differ from the registry, applied on approval."""
        form = read_form(message.mail.text)
        unit, refused = _own_unit(message, tx, form, renaming=True)
        if unit is None:
            return refused
        if form.problems:
            return _rejected(form)
        changes = {f: form.get(f) for f in UNIT_DETAILS if form.get(f) and form.get(f) != (getattr(unit, f) or "")}
        if not changes:
            return _incomplete(
                Words("与名录不同的单位信息", "any unit detail that differs from the registry"), UNIT_EXAMPLE
            )
        old = {f: getattr(unit, f) or "" for f in changes}
        reg = self._open(message, tx, unit, "unit_change", {"changes": changes, "old": old})
        details = [{"label": Words(*LABELS[f]), "value": f"{old[f] or '（无）'} → {new}"} for f, new in changes.items()]
        self.secretariat.tell(tx, reg, details)
        return acknowledged(reg, details)

    @staticmethod
    def _open(message: Incoming, tx: Tx, unit: Unit, kind: str, form: Mapping[str, object]) -> Registration:
        return tx.add(
            Registration(
                reference=tx.reference("BG"), inbound_id=message.inbound_id, kind=kind, email=message.sender,
                name=message.name[:100], unit_id=unit.id, state=RegistrationState.PENDING, created_at=tx.now,
                form=dict(form), certificate_inbound_id=message.inbound_id,
            )
        )  # fmt: skip


def _own_unit(message: Incoming, tx: Tx, form: Form, *, renaming: bool = False) -> tuple[Unit | None, Handled]:
    """The sender's unit, when the sender is its leader or liaison and the form names no other."""
    if message.role == "secretariat":
        return None, Handled(InboundState.HELD, (Reason("request_from_secretariat"),))
    named = match_unit(tx.session, form)
    unit = tx.get(Unit, message.unit_id) if message.unit_id is not None else None
    if unit is None or message.role not in ("leader", "liaison"):
        what = (named.name if named else form.get("name")) or form.get("code") or message.unit_name or "（未写明）"
        why = Reason("change_not_from_unit", {"unit": what, "email": message.sender})
        return None, Handled(InboundState.HELD, (why,))
    if named is not None and named.id != unit.id:
        why = Reason("change_not_from_unit", {"unit": named.name, "email": message.sender})
        return None, Handled(InboundState.HELD, (why,))
    code = form.get("code")
    if named is None and code and code != unit.code:
        return None, Handled(InboundState.REJECTED, (Reason("unit_not_found", {"unit": code}),))
    written = form.get("name")
    if (
        named is None
        and written
        and not renaming
        and not code
        and written not in unit.name
        and unit.name not in written
    ):
        return None, Handled(InboundState.REJECTED, (Reason("unit_not_found", {"unit": written}),))
    return unit, Handled()


def _rejected(form: Form) -> Handled:
    return Handled(InboundState.REJECTED, tuple(Reason("form_value", {"zh": zh, "en": en}) for zh, en in form.problems))


def _incomplete(missing: Words, example: Words) -> Handled:
    params = {"missing": missing.zh, "missing_en": missing.en, "example": example.zh, "example_en": example.en}
    return Handled(InboundState.REJECTED, (Reason("change_incomplete", params),))
