"""#命令: commands by email (and `mailflow do`), run from the one table the registry builds.

A command mail is read line by line (mailflow.commands.grammar, which stops at quoted text).
Each line ends done or refused with its reason, is written to the audit table, and the sender
gets one report letter, threaded to the command mail, listing every line and its outcome. All
of it commits with the message's own state, so a command mail is executed once whatever
happens to the process; running the same mail again (a reprocess) executes nothing.

Only the secretariat commands, and only provably: from a secretariat address, and (per
`security.commands`) our own server's DKIM/DMARC pass for it, or a reply to a letter we sent to
that same address (the rule is workflows.proof, which circulars share). Anything else is held as `unauthenticated_command`: never
executed, never answered (an answer would go to whoever forged it), shown in the digest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from mailflow.commands import CommandLine, Commands, read_commands
from mailflow.reasons import Reason, in_locale
from mailflow.store import AuditEntry, InboundState
from mailflow.workflows import desk
from mailflow.workflows import proof as proof_rule
from mailflow.workflows.contract import Call, CommandSpec, Done, Handled, Incoming, Reply, Words, Workflow
from mailflow.workflows.tx import Tx

if TYPE_CHECKING:
    from mailflow.workflows.registry import Registry

log = logging.getLogger("mailflow.commands")
PROOFS = proof_rule.PROOFS  # the policies `security.commands` may name


@dataclass(frozen=True)
class Requester:
    actor: str  # an address, or cli:<user>
    role: str
    via: str  # mail | cli
    unit_id: int | None = None
    inbound_id: int | None = None


class CommandDesk:
    """The command workflow; it reads the registry it is part of (bound once the registry is built)."""

    def __init__(self, proof: str = "either", locale: str = "zh-CN") -> None:
        self.proof, self.locale = proof_rule.checked(proof), locale
        self.registry: Registry | None = None

    def workflow(self) -> Workflow:
        help_spec = CommandSpec(
            "help", ("帮助", "help"), ("#帮助", "#help"), ("列出全部指令", "list every command"), self.help
        )
        return Workflow(
            name="commands",
            intents={"command": self.handle},
            commands=(help_spec, *desk.specs()),
            samples={"command_report": SAMPLE},
        )

    # -- by mail ---------------------------------------------------------------------------

    def handle(self, message: Incoming, tx: Tx) -> Handled:
        if message.role == "secretariat" and not proof_rule.proven(message, tx.session, self.proof):
            why = Reason("unauthenticated_command", {"email": message.sender, "policy": self.proof})
            return Handled(InboundState.HELD, (why,))
        done_before = tx.session.exec(select(AuditEntry.id).where(AuditEntry.inbound_id == message.inbound_id)).first()
        if done_before is not None:
            return Handled()  # executed when it first came: once, whatever happens after
        lines = read_commands(message.mail.subject, message.mail.text)
        who = Requester(message.sender, message.role, "mail", message.unit_id, message.inbound_id)
        report = self.execute(lines, who, tx)
        values: dict[str, Any] = {
            "lines": [{"text": text, "ok": done.ok, "outcome": Words(*done.text)} for text, done in report],
            "done": sum(1 for _, done in report if done.ok),
            "total": len(report),
            "commands": [],
        }
        help_spec = self.registry.keyed.get("help") if self.registry else None
        if help_spec is not None and any(
            self.registry and self.registry.commands.get(x.verb) is help_spec for x in lines
        ):
            # The table of commands below the report: one line each, too long for one outcome cell.
            values["commands"] = [{"usage": Words(*c.usage), "summary": Words(*c.summary)} for c in self._listed()]
        return Handled(reply=Reply("command_report", values))

    # -- the table ---------------------------------------------------------------------------

    def execute(self, lines: Commands, who: Requester, tx: Tx) -> list[tuple[str, Done]]:
        """Run each line (a repeat once), audit each, and return (line, outcome) for the report."""
        report: list[tuple[str, Done]] = []
        for line in lines:
            spec = self.registry.commands.get(line.verb) if self.registry else None
            entry = tx.audit(
                actor=who.actor,
                role=who.role,
                via=who.via,
                inbound_id=who.inbound_id,
                command=spec.key if spec else line.verb,
                line=line.text,
                ok=False,
                result="",
            )
            tx.session.flush()  # the entry's id, for the history lines the command writes
            done = self._one(line, spec, who, tx, entry.id)
            report.append((line.text, done))
            entry.ok, entry.result = done.ok, in_locale(done.text, self.locale)
            entry.record = done.record[:100] if done.record else None
        if not lines:
            report.append(("", self._nothing()))
        elif lines.truncated:
            report.append(
                (
                    "…",
                    Done(
                        False,
                        ("其余指令行过长或过多，未执行", "the remaining lines were too long or too many; not run"),
                    ),
                )
            )
        return report

    def _one(self, line: CommandLine, spec: CommandSpec | None, who: Requester, tx: Tx, audit_id: int | None) -> Done:
        if line.duplicate_of is not None:
            n = line.duplicate_of
            return Done(False, (f"与第 {n} 条指令相同，只执行一次", f"the same as command {n}; done once"))
        if spec is None:
            return Done(
                False,
                (
                    f"无法识别的指令“#{line.verb}”。{self._verbs('zh')}",
                    f"unknown command #{line.verb}. {self._verbs('en')}",
                ),
            )
        if who.role not in spec.roles:
            return Done(False, ("只有商会秘书处可以发出此指令", "only the chamber's secretariat may give this command"))
        count = len(line.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            return Done(False, (f"参数不符，格式为：{spec.usage[0]}", f"wrong arguments; write: {spec.usage[1]}"))
        call = Call(
            line.verb, line.args, line.rest_after(1), who.actor, who.role, who.unit_id, who.inbound_id, audit_id
        )
        if who.role != "secretariat" and (
            spec.unit_of is None or who.unit_id is None or spec.unit_of(call, tx) != who.unit_id
        ):
            return Done(False, ("只能对本单位的记录发出此指令", "you may give this command only for your own unit"))
        try:
            with tx.session.begin_nested():
                return spec.run(call, tx)
        except Exception:  # noqa: BLE001 - one command's bug fails that line, not the others
            log.exception("command %r failed", line.text)
            return Done(False, ("执行出错，未生效，已记录日志", "failed with an error; nothing changed; logged"))

    def _verbs(self, lang: str) -> str:
        listed = self._listed()
        if lang == "zh":
            return "可用指令：" + "、".join(f"#{c.verbs[0]}" for c in listed)
        return "Known: " + ", ".join(f"#{c.verbs[-1]}" for c in listed)

    def _nothing(self) -> Done:
        return Done(
            False, (f"邮件中未找到指令。{self._verbs('zh')}", f"no command found in the message. {self._verbs('en')}")
        )

    def help(self, call: Call, tx: Tx) -> Done:
        """The verbs here; by mail, the report adds the table of usages (`commands`)."""
        return Done(True, (f"{self._verbs('zh')}（用法见下表）", f"{self._verbs('en')} (usage below)"))

    def _listed(self) -> tuple[CommandSpec, ...]:
        return self.registry.listed_commands() if self.registry is not None else ()


SAMPLE: dict[str, Any] = {
    "name": "秘书处",
    "original_subject": "#重发 12",
    "received_at": "2026年11月24日 09:30",
    "done": 1,
    "total": 2,
    "lines": [
        {"text": "#重发 12", "ok": True, "outcome": "邮件 #12 已重新排队发送"},
        {"text": "#批准 DJ-2026-0007", "ok": False, "outcome": "无法识别的指令“#批准”。可用指令：#帮助、#重发"},
    ],
    "commands": [{"usage": "#重发 编号", "summary": "重发未送达或待发的邮件"}],
}
