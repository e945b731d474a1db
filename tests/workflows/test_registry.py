"""One registry collects every workflow and refuses two owners of one name at start."""

from __future__ import annotations

import pytest

from mailflow.errors import ConfigError
from mailflow.jobs.scheduler import Job
from mailflow.workflows.contract import CommandSpec, Done, Handled, Workflow
from mailflow.workflows.registry import Registry, standard


def noop_handler(message: object, tx: object) -> Handled:
    return Handled()


def noop_command(call: object, tx: object) -> Done:
    return Done(True, ("好", "ok"))


def test_the_shipped_workflows_build_and_own_every_intent_the_rules_use() -> None:
    registry = Registry.build(standard())
    assert {"submission", "registration", "liaison_change", "command", "rsvp"} <= registry.intents
    assert registry.open_to_unknown == {"registration"}
    assert registry.commands["重发"] is registry.commands["resend"]


@pytest.mark.parametrize(
    ("second", "problem"),
    [
        (
            Workflow("b", intents={"submission": noop_handler}),
            "intent 'submission' is claimed by both 'submission' and 'b'",
        ),
        (
            Workflow("b", commands=(CommandSpec("again", ("重发",), ("#重发", "#x"), ("", ""), noop_command),)),
            "verb '重发' is claimed by both 'commands' and 'b'",
        ),
        (Workflow("b", jobs=(Job("digest", lambda s: s.every().day, lambda job: ""),)), "job 'digest'"),
        (Workflow("b", samples={"ack_submission": {}}), "template kind 'ack_submission' is claimed by both"),
        (Workflow("b", intents={"bounce": noop_handler}), "intent 'bounce' is decided by screening"),
    ],
)
def test_a_second_owner_is_refused_naming_both(second: Workflow, problem: str) -> None:
    digest = Workflow("digest", jobs=(Job("digest", lambda s: s.every().day, lambda job: ""),))
    with pytest.raises(ConfigError) as info:
        Registry.build(standard(digest, second))
    assert any(problem in p for p in info.value.problems), info.value.problems
