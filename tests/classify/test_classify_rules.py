"""Rules: loaded from rules/*.yaml with errors that name file and key; run in order; explain themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import REPO

from mailflow.classify import Facts, classify, load_rules
from mailflow.workflows.registry import Registry, standard
from mailflow.errors import ConfigError
from mailflow.parse import Address, Attachment, ParsedMail

INTENTS = Registry.build(standard()).intents  # what the shipped workflows handle


def mail(
    *, subject: str = "", to: str = "mishuchu@chamber.example.org", sender: str = "a@b.cn", **kw: object
) -> ParsedMail:
    return ParsedMail(
        message_id="x@y",
        subject=subject,
        from_=Address("", sender),
        to=(Address("", to),),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def shipped():  # type: ignore[no-untyped-def]
    return load_rules(REPO / "rules")


@pytest.mark.parametrize(
    ("subject", "intent", "category"),
    [
        ("【报送】我公司参加2026中国机械工业博览会", "submission", "news"),
        ("[报送]新产品下线", "submission", "news"),
        ("【技术】五轴联动数控机床关键技术突破", "submission", "technology"),
        ("【诉求】关于原材料价格上涨的情况反映", "submission", "demand"),
        ("【登记】联络员登记表", "registration", None),
        ("【变更】联络员变更通知", "liaison_change", None),
        ("【回执】2026年第二次联络员例会", "rsvp", None),
        ("2026年度会费缴费凭证", "dues_receipt", None),
        ("你好", "unknown", None),
    ],
)
def test_shipped_rules_understand_the_usual_tags(shipped, subject: str, intent: str, category: str | None) -> None:  # type: ignore[no-untyped-def]
    result = classify(shipped.rules, Facts(mail(subject=subject), "liaison"))
    assert (result.intent, result.category) == (intent, category)


def test_plus_address_tag_decides_when_the_subject_says_nothing(shipped) -> None:  # type: ignore[no-untyped-def]
    result = classify(
        shipped.rules, Facts(mail(subject="新闻稿", to="mishuchu+baosong@chamber.example.org"), "liaison")
    )
    assert (result.intent, result.rule) == ("submission", "submission-by-address")


def test_reply_to_our_meeting_notice_is_an_rsvp(shipped) -> None:  # type: ignore[no-untyped-def]
    ours = "20261120.abc@mailflow.chamber.example.org"
    facts = Facts(
        mail(subject="Re: 关于召开2026年第二次联络员例会的通知", in_reply_to=ours),
        "liaison",
        lambda mid: mid.endswith("@mailflow.chamber.example.org"),
    )
    result = classify(shipped.rules, facts)
    assert (result.intent, result.rule) == ("rsvp", "meeting-reply-to-notice")
    assert any("refers to our message" in r for r in result.results[-1].reasons)


def test_commands_are_read_from_the_secretariat_and_answered_to_members(shipped) -> None:  # type: ignore[no-untyped-def]
    assert classify(shipped.rules, Facts(mail(subject="#approve DJ-2026-0001"), "secretariat")).intent == "command"
    assert (
        classify(shipped.rules, Facts(mail(subject="转发：", text="说明\n＃重发　１２"), "secretariat")).intent
        == "command"
    )
    # A member's command is read so that its report can say who may command; a topic tag is not one.
    assert classify(shipped.rules, Facts(mail(subject="#approve DJ-2026-0001"), "liaison")).intent == "command"
    assert classify(shipped.rules, Facts(mail(subject="#创新# 新产品下线"), "liaison")).intent != "command"
    assert classify(shipped.rules, Facts(mail(subject="#approve DJ-2026-0001"), "unknown")).intent == "unknown"


def write_rules(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "r.yaml").write_text(text, encoding="utf-8")
    return folder


def test_order_stop_and_override(tmp_path: Path) -> None:
    rules = load_rules(
        write_rules(
            tmp_path / "rules",
            """
rules:
  - {name: late, order: 50, intent: rsvp, when: {subject: 会议}}
  - {name: tag-tech, order: 10, category: technology, stop: false, when: {subject: 技术}}
  - {name: sub, order: 20, intent: submission, when: {subject: 报送}}
  - {name: switched-off, order: 1, intent: command, enabled: false, when: {subject: 报送}}
""",
        )
    )
    assert [r.name for r in rules.rules] == ["tag-tech", "sub", "late"]
    result = classify(rules.rules, Facts(mail(subject="报送 技术 会议"), "liaison"))
    assert (result.intent, result.category, result.rule) == ("submission", "technology", "sub")
    assert len(result.results) == 2, "stop after the first deciding match"


def test_attachment_name_and_header_conditions(tmp_path: Path) -> None:
    rules = load_rules(
        write_rules(
            tmp_path / "rules",
            """
rules:
  - name: receipt
    intent: dues_receipt
    when:
      attachment_name: ["*凭证*.pdf", "*回单*"]
      header: {x-mailer: ["re:^Foxmail"]}
""",
        )
    )
    att = Attachment("2026会费凭证.PDF", "application/pdf", b"%PDF")
    good = mail(subject="x", attachments=(att,), headers={"x-mailer": "Foxmail 7.2"})
    assert classify(rules.rules, Facts(good, "liaison")).intent == "dues_receipt"
    bad = mail(subject="x", attachments=(att,), headers={"x-mailer": "Outlook"})
    result = classify(rules.rules, Facts(bad, "liaison"))
    assert result.intent == "unknown"
    assert result.results[0].reasons[0].startswith("header: header x-mailer ('Outlook') matches none")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "rules:\n  - {name: a, intent: nonsense, when: {subject: x}}\n",
            "r.yaml: rules[0] (a).intent: 'nonsense' is handled by no workflow (known: auto_reply, bounce,",
        ),
        (
            "rules:\n  - {name: a, intent: rsvp, when: {subjekt: x}}\n",
            "r.yaml: rules[0] (a).when.subjekt: unknown condition",
        ),
        (
            "rules:\n  - {name: a, intent: rsvp, when: {subject: 're:(('}}\n",
            "r.yaml: rules[0] (a).when.subject: bad regular expression",
        ),
        ("rules:\n  - {name: a, intent: rsvp}\n", "r.yaml: rules[0] (a).when: required"),
        ("rules:\n  - {intent: rsvp, when: {subject: x}}\n", "r.yaml: rules[0].name: required"),
        (
            "rules:\n  - {name: a, intent: rsvp, colour: red, when: {subject: x}}\n",
            "r.yaml: rules[0].colour: unknown key",
        ),
        ("rules:\n  - {name: a, intent: rsvp, when: {has_attachments: maybe}}\n", "must be true or false"),
        (
            "rules:\n  - {name: a, intent: rsvp, when: {subject: x}}\n  - {name: a, intent: rsvp, when: {subject: y}}\n",
            "rule name 'a' is used more than once",
        ),
        ("attachments:\n  min_photo: [800]\n", "r.yaml: attachments.min_photo: must be [width, height]"),
        ("rules: [\n", "r.yaml: not valid YAML"),
    ],
)
def test_a_rules_file_with_an_error_fails_like_the_config(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_rules(write_rules(tmp_path / "rules", text), INTENTS)
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_attachment_policy_comes_from_the_rules_folder(shipped, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert (shipped.policy.min_photo_width, shipped.policy.min_photo_height) == (800, 600)
    custom = load_rules(
        write_rules(tmp_path / "rules", "attachments:\n  min_photo: [1024, 768]\n  max_attachment_mb: 5\n")
    )
    assert (custom.policy.min_photo_width, custom.policy.max_attachment_bytes) == (1024, 5 * 1024 * 1024)
