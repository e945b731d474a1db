"""Every workflow in one tuple, and the tables built from it at start.

The order of `Registry.workflows` is the order of the digest's sections. Two workflows that
claim one intent, one command verb, one job name or one template kind are refused at start
with both names, before any mail is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from mailflow.errors import ConfigError
from mailflow.jobs.scheduler import Job
from mailflow.workflows import commands, digest, members, messages, replies, roster, screening, submission
from mailflow.workflows.circular import Circulars
from mailflow.workflows.contract import CommandSpec, DigestSection, Handler, Workflow
from mailflow.workflows.requests import Requests

T = TypeVar("T")

# Intents the screening steps decide, not a workflow: rules may name them too.
SCREENING_INTENTS = frozenset({"auto_reply", "bounce", "unknown"})


@dataclass(frozen=True)
class Registry:
    workflows: tuple[Workflow, ...]
    handlers: Mapping[str, Handler]
    commands: Mapping[str, CommandSpec]  # every verb spelling (lower case) -> its command
    keyed: Mapping[str, CommandSpec]  # CommandSpec.key -> the command
    jobs: tuple[Job, ...]
    samples: Mapping[str, Mapping[str, Any]]
    open_to_unknown: frozenset[str]
    new_record: frozenset[str]
    labels: Mapping[str, tuple[str, str]]
    follow_ups: Mapping[str, Handler]  # reference prefix -> handler
    own_attachments: frozenset[str]

    @classmethod
    def build(cls, workflows: Iterable[Workflow]) -> Registry:
        flows = tuple(workflows)
        problems: list[str] = []
        handlers = _unique(((i, w.name, h) for w in flows for i, h in w.intents.items()), "intent", problems)
        commands = _unique(
            ((v.lower(), w.name, c) for w in flows for c in w.commands for v in c.verbs), "verb", problems
        )
        keyed = _unique(((c.key, w.name, c) for w in flows for c in w.commands), "command", problems)
        jobs = _unique(((j.name, w.name, j) for w in flows for j in w.jobs), "job", problems)
        samples = _unique(((k, w.name, v) for w in flows for k, v in w.samples.items()), "template kind", problems)
        _unique(((s.name, w.name, s) for w in flows for s in w.digest), "digest section", problems)
        follow_ups = _unique(((p, w.name, h) for w in flows for p, h in w.follow_ups.items()), "prefix", problems)
        for intent in sorted(set(handlers) & SCREENING_INTENTS):
            problems.append(f"intent {intent!r} is decided by screening; no workflow may handle it")
        if problems:
            raise ConfigError("workflows", problems)
        return cls(
            workflows=flows,
            handlers=handlers,
            commands=commands,
            keyed=keyed,
            jobs=tuple(jobs.values()),
            samples=samples,
            open_to_unknown=frozenset().union(*(w.open_to_unknown for w in flows)),
            new_record=frozenset().union(*(w.new_record for w in flows)) | {"unknown"},
            labels={i: label for w in flows for i, label in w.labels.items()},
            follow_ups=follow_ups,
            own_attachments=frozenset().union(*(w.own_attachments for w in flows)),
        )

    @property
    def intents(self) -> frozenset[str]:
        """What a rule may set: every handled intent, and the screening ones."""
        return frozenset(self.handlers) | SCREENING_INTENTS

    @property
    def sections(self) -> tuple[DigestSection, ...]:
        return tuple(s for w in self.workflows for s in w.digest)

    def command(self, key: str) -> CommandSpec | None:
        """The command with this key (CommandSpec.key), if some workflow offers it."""
        return self.keyed.get(key)

    def listed_commands(self) -> tuple[CommandSpec, ...]:
        """Each command once, in the order of the workflows that declare them (for #帮助)."""
        return tuple(c for w in self.workflows for c in w.commands)


def _unique(entries: Iterable[tuple[str, str, T]], what: str, problems: list[str]) -> dict[str, T]:
    table: dict[str, T] = {}
    owner: dict[str, str] = {}
    for key, workflow, value in entries:
        if key in table:
            problems.append(f"{what} {key!r} is claimed by both {owner[key]!r} and {workflow!r}")
            continue
        table[key], owner[key] = value, workflow
    return table


def standard(
    *extra: Workflow,
    desk: commands.CommandDesk | None = None,
    secretariat: tuple[str, ...] = (),
    circulars: Circulars | None = None,
    requests: Requests | None = None,
) -> tuple[Workflow, ...]:
    """The chamber's workflows in digest order; `extra` (the digest, built with the templates) last.
        `desk` is the command workflow, to be bound to the registry once built (#帮助 lists it);
        `secretariat` is told of registrations and changes at once; `circulars` the circular workflow
        with the chamber's policy (the defaults when None); `requests` the requests for information (the
    defaults, without their daily jobs, when None)."""
    commands_workflow = (desk or commands.CommandDesk()).workflow()
    return (
        members.workflow(secretariat),
        submission.workflow(secretariat),
        screening.WORKFLOW,
        messages.WORKFLOW,
        commands_workflow,
        replies.WORKFLOW,
        (circulars or Circulars()).workflow(),
        (requests or Requests()).workflow(),
        *extra,
    )


def standard_samples() -> Mapping[str, Mapping[str, Any]]:
    """Every template kind's sample values, without building the application (template tests)."""
    stand_ins = (Workflow("digest", samples={"digest": digest.SAMPLE}), Workflow("roster", samples=roster.SAMPLES))
    return Registry.build(standard(*stand_ins)).samples
