"""The unit head's review as offices write it, what a reply to our letter is, and the policy's file."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import REPO

from mailflow.classify import load_rules
from mailflow.errors import ConfigError
from mailflow.submissions import SubmissionPolicy, confirms, is_revision, shown_review

SHIPPED = load_rules(REPO / "rules").submissions


@pytest.mark.parametrize(
    "said",
    [
        "已经单位负责人审核", "已经领导审核", "经总经理审阅同意", "已审核", "领导已审阅", "负责人审定",
        "本文经公司主要负责人审核同意后报送。", "此稿已经我单位负责人审阅。", "已由董事长审定", "已经过公司领导审核",
        "经单位领导审核无误", "公司领导均已审阅", "审核：李建国", "审核人：李建国", "签发：李建国",
        "稿件已经我公司总经理过目", "Reviewed by our general manager.",
    ],
)  # fmt: skip
@pytest.mark.parametrize("policy", [SubmissionPolicy(), SHIPPED], ids=["defaults", "shipped"])
def test_a_review_statement_counts(said: str, policy: SubmissionPolicy) -> None:
    text = f"秘书处：\n\n我公司新产品下线。\n{said}\n\n王芳"
    assert shown_review(policy, text, role="liaison", recipients=(), leader=None) == "statement"


@pytest.mark.parametrize(
    "said",
    [
        "未审核", "尚未审核", "待审核", "尚未经单位负责人审核", "未经领导审核", "待负责人审定", "请领导签批",
        "需负责人审核后报送", "报送前须经单位负责人审核", "领导还没审阅", "是否已经领导审核？", "审核",
        "not yet reviewed by the head", "> 已经单位负责人审核",
    ],
)  # fmt: skip
@pytest.mark.parametrize("policy", [SubmissionPolicy(), SHIPPED], ids=["defaults", "shipped"])
def test_what_only_looks_like_a_review_statement_does_not_count(said: str, policy: SubmissionPolicy) -> None:
    text = f"秘书处：\n\n我公司新产品下线。\n{said}\n\n王芳"
    assert shown_review(policy, text, role="liaison", recipients=(), leader=None) is None


def test_cc_leader_counts_the_leader_in_copy_or_as_sender_and_a_statement_too() -> None:
    policy = SubmissionPolicy(review="cc_leader")
    leader = "leader@hongda.cn"
    assert shown_review(policy, "正文", role="liaison", recipients=["Leader@Hongda.cn"], leader=leader) == "cc_leader"
    assert shown_review(policy, "正文", role="leader", recipients=[], leader=leader) == "cc_leader"
    assert shown_review(policy, "已审核", role="liaison", recipients=[], leader=leader) == "statement"
    assert shown_review(policy, "正文", role="liaison", recipients=["x@hongda.cn"], leader=leader) is None
    statement_only = SubmissionPolicy()  # a leader in copy is not a statement
    assert shown_review(statement_only, "正文", role="liaison", recipients=[leader], leader=leader) is None
    assert shown_review(SubmissionPolicy(review="none"), "正文", role="liaison", recipients=[], leader=None) == "none"


def test_a_short_reply_confirms_a_long_or_attached_one_is_a_revision() -> None:
    policy = SubmissionPolicy()
    latest = "我公司新产品下线。" * 20
    assert confirms(policy, "已经单位负责人审核，请查收。\n\n王芳\n\n> " + latest, role="liaison")
    assert confirms(policy, "同意。\n李建国", role="leader") and not confirms(policy, "同意。", role="liaison")
    assert not confirms(policy, "不同意报送。", role="leader")
    assert not is_revision(policy, "已经单位负责人审核，请查收。\n\n> " + latest, latest, files=False)
    assert not is_revision(policy, "秘书处：\n\n" + latest + "\n\n王芳", "秘书处:\n" + latest + "\n王芳", files=False)
    assert is_revision(policy, "修改稿：" + latest, latest, files=False)
    assert is_revision(policy, "补充照片", latest, files=True)


def test_policy_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    (tmp_path / "30-submissions.yaml").write_text(
        "submissions:\n  timeliness: {window_days: -1, colour: red}\n  review: {policy: maybe, phrases: ['re:(']}\n"
        "  extra: {}\n",
        encoding="utf-8",
    )
    (tmp_path / "31-more.yaml").write_text("submissions: {revision: {min_chars: 10}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_rules(tmp_path)
    text = str(raised.value)
    for expected in (
        "30-submissions.yaml: submissions.timeliness.window_days: must be a whole number, at least 0",
        "30-submissions.yaml: submissions.timeliness.colour: unknown key",
        "30-submissions.yaml: submissions.review.policy: must be one of statement, cc_leader, none",
        "30-submissions.yaml: submissions.review.phrases: 're:(' is not a valid regular expression",
        "30-submissions.yaml: submissions.extra: unknown key",
        "31-more.yaml: submissions: already set in 30-submissions.yaml",
    ):
        assert expected in text


def test_the_shipped_file_sets_the_regulations_defaults(tmp_path: Path) -> None:
    assert (SHIPPED.window_days, SHIPPED.urgent_categories, SHIPPED.review) == (7, ("event",), "statement")
    (tmp_path / "a.yaml").write_text("submissions: {review: {policy: none}, timeliness: {window_days: 3}}\n")
    loaded = load_rules(tmp_path).submissions
    assert (loaded.review, loaded.window_days, loaded.urgent_window_days) == ("none", 3, 1)
