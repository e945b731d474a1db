"""GIVEN a submission on record WHEN its unit's liaison or leader answers our letter about it, or
names its BS- reference THEN new content is its next version, a short confirmation completes its
review, and nobody else's mail touches it."""

from __future__ import annotations

from builders import LIAISON, add_liaison, make_jpeg, make_mail
from sqlmodel import select
from submission_mail import REVIEWED, letters, one_pass, reply_to, submissions, versions

from mailflow.app import App
from mailflow.store import Submission, SubmissionState

LEADER = "leader@hongda-machinery.cn"
UNREVIEWED = "秘书处：\n\n11月20日，我公司参加2026中国机械工业博览会。\n\n王芳"
REVISED = (
    "秘书处：\n\n11月20日至22日，我公司参加2026中国机械工业博览会，展出五轴联动加工中心等六项新产品，"
    "现场签约意向订单3200万元，接待国内外客商四百余人次，并与两家高校签订产学研合作协议。" + REVIEWED + "\n\n王芳"
)


def set_state(app: App, state: str) -> None:
    with app.store.session() as session:
        sub = session.exec(select(Submission)).one()
        sub.state = state
        session.commit()


def test_a_reply_with_a_review_statement_completes_the_same_submission(app: App) -> None:
    one_pass(app, make_mail(body=UNREVIEWED))
    (asked,) = letters(app, LIAISON)
    row = one_pass(app, make_mail(**reply_to(asked, body="已经单位负责人审核，请查收。\n\n王芳"), message_id="<c@h>"))
    assert row.state == "processed"
    (sub,) = submissions(app)
    assert (sub.state, sub.review, sub.version) == ("received", "confirmed", 1)
    confirmed = letters(app, LIAISON)[-1]
    assert confirmed.kind == "ack_submission" and confirmed.subject.startswith("【已收到】BS-2026-0001 我公司")
    assert "登记编号为 BS-2026-0001 的报送信息已确认经单位负责人审核，现已转入秘书处筛选" in confirmed.text


def test_the_leader_confirms_by_answering_the_forwarded_letter(app: App) -> None:
    one_pass(app, make_mail(body=UNREVIEWED))
    (asked,) = letters(app, LIAISON)
    forwarded = make_mail(
        sender=LEADER, sender_name="李建国", subject="回复：" + asked.subject, body="同意报送。\n李建国"
    )
    one_pass(app, forwarded)
    (sub,) = submissions(app)
    assert (sub.state, sub.review) == ("received", "confirmed")
    assert letters(app, LEADER)[-1].kind == "ack_submission"


def test_a_thank_you_is_a_note_for_the_secretariat_not_a_confirmation(app: App) -> None:
    one_pass(app, make_mail(body=UNREVIEWED))
    (asked,) = letters(app, LIAISON)
    row = one_pass(app, make_mail(**reply_to(asked, body="收到，谢谢！"), message_id="<t@h>"))
    assert (row.state, row.intent) == ("held", "reply")
    assert submissions(app)[0].state == "awaiting_review"
    assert [letter.kind for letter in letters(app, LIAISON)] == ["submission_review", "ack_reply"]


def test_a_reply_with_new_text_and_photos_is_the_next_version(app: App) -> None:
    one_pass(app, make_mail(message_id="<v1@h>"))
    (ack,) = letters(app, LIAISON)
    photo = ("签约现场.jpg", make_jpeg(width=1600, height=1200), "image/jpeg")
    row = one_pass(
        app, make_mail(**reply_to(ack, body=REVISED + "\n\n> 原文", attachments=[photo]), message_id="<v2@h>")
    )
    assert row.state == "processed"
    (sub,) = submissions(app)
    assert (sub.version, sub.state, sub.photo_count, sub.latest_inbound_id) == (2, "received", 1, row.id)
    assert sub.title == "我公司参加2026中国机械工业博览会"  # the reply's subject adds nothing new
    assert "3200万元" in sub.text
    first, second = versions(app, "BS-2026-0001")
    assert (first.version, second.version, second.inbound_id, second.photo_count) == (1, 2, row.id, 1)
    assert "3200万元" not in first.text
    revised = letters(app, LIAISON)[-1]
    assert revised.subject == "【已收到】BS-2026-0001 第2版 我公司参加2026中国机械工业博览会"
    assert "所作的修改已收到，登记为第2版，此前各版均已存档" in revised.text
    assert "- 签约现场.jpg（1600×1200 像素）" in revised.text


def test_a_new_mail_naming_the_reference_is_the_next_version_with_its_title(app: App) -> None:
    one_pass(app, make_mail(message_id="<v1@h>"))
    one_pass(app, make_mail(subject="【报送】BS-2026-0001 修改稿：博览会参展情况", body=REVISED, message_id="<v2@h>"))
    (sub,) = submissions(app)
    assert (sub.version, sub.title) == (2, "修改稿：博览会参展情况")
    assert len(versions(app, "BS-2026-0001")) == 2


def test_a_returned_submission_is_screened_again_after_its_revision(app: App) -> None:
    one_pass(app, make_mail(message_id="<v1@h>"))
    set_state(app, SubmissionState.RETURNED)
    (ack,) = letters(app, LIAISON)
    one_pass(app, make_mail(**reply_to(ack, body=REVISED), message_id="<v2@h>"))
    assert (submissions(app)[0].state, submissions(app)[0].version) == ("received", 2)


def test_a_revision_of_an_adopted_submission_is_kept_and_the_decision_stands(app: App) -> None:
    one_pass(app, make_mail(message_id="<v1@h>"))
    set_state(app, SubmissionState.ADOPTED)
    (ack,) = letters(app, LIAISON)
    one_pass(app, make_mail(**reply_to(ack, body=REVISED), message_id="<v2@h>"))
    (sub,) = submissions(app)
    assert (sub.state, sub.version) == ("adopted", 2)
    assert "该稿件秘书处已采用，本次修改稿已转秘书处知悉" in letters(app, LIAISON)[-1].text


def test_a_revision_without_the_review_of_an_unreviewed_submission_still_waits(app: App) -> None:
    one_pass(app, make_mail(body=UNREVIEWED))
    (asked,) = letters(app, LIAISON)
    one_pass(app, make_mail(**reply_to(asked, body=REVISED.replace(REVIEWED, "")), message_id="<v2@h>"))
    (sub,) = submissions(app)
    assert (sub.state, sub.version) == ("awaiting_review", 2)
    assert letters(app, LIAISON)[-1].kind == "submission_review"


def test_a_revision_with_a_small_photo_is_refused_and_records_nothing(app: App) -> None:
    one_pass(app, make_mail(message_id="<v1@h>"))
    (ack,) = letters(app, LIAISON)
    small = ("小图.jpg", make_jpeg(width=640, height=480), "image/jpeg")
    row = one_pass(app, make_mail(**reply_to(ack, body=REVISED, attachments=[small]), message_id="<v2@h>"))
    assert row.state == "rejected" and submissions(app)[0].version == 1
    assert "640×480，低于 800×600" in letters(app, LIAISON)[-1].text


def test_another_units_mail_naming_the_reference_is_its_own_submission(app: App) -> None:
    other = "zhaolei@other-unit.cn"
    add_liaison(app, email=other, unit="其他机械有限公司", code="QT001")
    one_pass(app, make_mail(message_id="<v1@h>"))
    (ack,) = letters(app, LIAISON)
    one_pass(
        app, make_mail(sender=other, subject="【报送】BS-2026-0001 我们也参展了", body=REVISED, message_id="<o@h>")
    )
    first, theirs = submissions(app)
    assert (first.version, first.text.count("3200万元")) == (1, 0)
    assert (theirs.reference, theirs.title) == ("BS-2026-0002", "BS-2026-0001 我们也参展了")
    row = one_pass(app, make_mail(sender=other, **reply_to(ack, body=REVISED), message_id="<o2@h>"))
    assert (row.state, row.intent) == ("held", "reply") and submissions(app)[0].version == 1
