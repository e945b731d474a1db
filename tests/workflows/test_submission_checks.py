"""GIVEN a liaison's submission by mail WHEN a pass runs THEN Ch. 4's checks are applied as
rules/30-submissions.yaml sets them: timeliness, the unit head's review, the photos listed with
their sizes, and a clear answer for mail that carries little (only photos, a Word file, nothing)."""

from __future__ import annotations

import base64
import io
import re
import shutil
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

from builders import LIAISON, REPO, add_liaison, make_app, make_jpeg, make_mail
from submission_mail import REVIEWED, letters, one_pass, submissions

from sqlmodel import select

from mailflow.app import App
from mailflow.store import BlobStore, StoredAttachment

NEWS = (
    "秘书处：\n\n{}，我公司新产品下线仪式在成都隆重举行，省市有关领导出席。"
    + REVIEWED
    + "\n\n王芳\n宏达机械有限公司\n2026年11月24日"
)


def test_a_late_report_is_accepted_flagged_with_its_days_and_told_politely(app: App) -> None:
    one_pass(app, make_mail(body=NEWS.format("11月10日")))
    (sub,) = submissions(app)
    assert (sub.state, sub.event_date, sub.late_days, sub.urgent) == ("received", date(2026, 11, 10), 7, False)
    (ack,) = letters(app, LIAISON)
    assert ack.kind == "ack_submission" and "事件日期：2026年11月10日" in ack.text
    assert (
        "信息应在事件发生后一周内报送。来稿所述事件日期为2026年11月10日，已超出报送时限 7 天。本稿件照常受理"
        in ack.text
    )


def test_a_report_within_the_week_is_not_late_and_the_signature_date_is_not_the_event(app: App) -> None:
    one_pass(app, make_mail(body=NEWS.format("11月17日")))
    one_pass(app, make_mail(body=NEWS.format("近日"), message_id="<undated@hongda>"))
    first, undated = submissions(app)
    assert (first.event_date, first.late_days) == (date(2026, 11, 17), None)
    assert (undated.event_date, undated.late_days) == (None, None)  # not the 2026年11月24日 under the name
    assert all("超出报送时限" not in letter.text for letter in letters(app, LIAISON))


def test_an_important_event_is_urgent_and_late_after_one_day(app: App) -> None:
    one_pass(app, make_mail(subject="【会议活动】昨天我公司承办行业年会", body="详见正文。" + REVIEWED))
    one_pass(app, make_mail(subject="【会议活动】上周五行业年会", body="详见正文。" + REVIEWED, message_id="<b@h>"))
    yesterday, friday = submissions(app)
    assert (yesterday.urgent, yesterday.event_date, yesterday.late_days) == (True, date(2026, 11, 23), None)
    assert (friday.urgent, friday.event_date, friday.late_days) == (True, date(2026, 11, 20), 3)
    first, second = letters(app, LIAISON)
    assert "本稿件属重要会议、活动信息，秘书处将于当日优先处理。" in first.text and "超出" not in first.text
    assert "重要会议、活动信息应在事件当天或次日及时报送" in second.text and "已超出报送时限 3 天" in second.text


def test_relative_dates_count_from_the_mails_date_in_the_chambers_zone(app: App) -> None:
    """Sent 20:00 UTC on the 23rd is the 24th in Shanghai: its 昨天 is the 23rd, not the 22nd."""
    one_pass(app, make_mail(body=NEWS.format("昨天"), date=datetime(2026, 11, 23, 20, 0, tzinfo=UTC)))
    (sub,) = submissions(app)
    assert sub.event_date == date(2026, 11, 23)


def test_a_future_event_announced_is_not_late(app: App) -> None:
    one_pass(app, make_mail(body="秘书处：\n\n我公司定于12月5日举办开放日，欢迎各会员单位参加。" + REVIEWED))
    (sub,) = submissions(app)
    assert (sub.event_date, sub.late_days) == (None, None)


def test_without_the_heads_review_it_waits_and_the_answer_says_what_to_add(app: App) -> None:
    one_pass(app, make_mail(body="秘书处：\n\n11月20日，我公司参加博览会。\n\n王芳"))
    (sub,) = submissions(app)
    assert (sub.state, sub.review) == ("awaiting_review", "")
    (letter,) = letters(app, LIAISON)
    assert letter.kind == "submission_review" and letter.reference == "BS-2026-0001"
    assert letter.subject == "【请补充审核确认】BS-2026-0001 我公司参加2026中国机械工业博览会"
    assert "直接回复本邮件，写明“已经单位负责人审核”" in letter.text and "本稿件暂未转入筛选" in letter.text


def test_not_yet_reviewed_is_not_a_review(app: App) -> None:
    one_pass(app, make_mail(body="秘书处：\n\n11月20日，我公司参加博览会。本稿尚未经单位负责人审核，先行报送。"))
    assert submissions(app)[0].state == "awaiting_review"


def test_with_cc_leader_the_leader_in_copy_counts(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    policy = rules / "30-submissions.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace("policy: statement", "policy: cc_leader"), "utf-8")
    app = make_app(tmp_path, paths={"rules": str(rules)})
    add_liaison(app)
    try:
        leader = "leader@hongda-machinery.cn"
        one_pass(app, make_mail(body="11月20日，我公司参加博览会。", headers={"Cc": leader}))
        one_pass(app, make_mail(body="11月20日，我公司参加博览会。", message_id="<nocc@h>"))
        copied, alone = submissions(app)
        assert (copied.state, copied.review) == ("received", "cc_leader")
        assert alone.state == "awaiting_review"
        assert "单位负责人也不在收件人或抄送人之列" in letters(app, LIAISON)[-1].text
    finally:
        app.close()


def test_the_acknowledgement_lists_every_attachment_and_each_photos_size(app: App) -> None:
    files = [
        ("展会现场.jpg", make_jpeg(width=1600, height=1200), "image/jpeg"),
        ("签约仪式.jpg", make_jpeg(width=900, height=1200), "image/jpeg"),
        ("新闻稿.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "application/pdf"),
    ]
    one_pass(app, make_mail(attachments=files))
    (ack,) = letters(app, LIAISON)
    assert "- 展会现场.jpg（1600×1200 像素）\n- 签约仪式.jpg（900×1200 像素）\n- 新闻稿.pdf\n" in ack.text
    assert submissions(app)[0].photo_count == 2


def test_only_photos_and_no_text_is_accepted_under_its_subject(app: App) -> None:
    photo = make_jpeg(width=1600, height=1200)
    one_pass(app, make_mail(subject="【报送】新厂区落成", body="", attachments=[("新厂区.jpg", photo, "image/jpeg")]))
    (sub,) = submissions(app)
    assert (sub.title, sub.photo_count, sub.text) == ("新厂区落成", 1, "")
    (letter,) = letters(app, LIAISON)  # no text, so no review statement either: both are asked for
    assert letter.kind == "submission_review"
    assert "来信正文中未见文字稿，本次仅收到所附材料" in letter.text and "- 新厂区.jpg（1600×1200 像素）" in letter.text


def docx(pages: int) -> bytes:
    """A Word document of about `pages` pages (a real OOXML package; the text is what Word reads)."""
    paragraph = "<w:p><w:r><w:t>我公司新产品下线仪式隆重举行，省市有关领导出席并讲话。</w:t></w:r></w:p>"
    body = paragraph * (pages * 30)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>',
        )
        package.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="word/document.xml"/></Relationships>',
        )
        package.writestr(
            "word/document.xml",
            '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body>{body}</w:body></w:document>",
        )
    return out.getvalue()


def test_a_forty_page_word_file_is_the_text_and_is_kept(app: App) -> None:
    word = (
        "关于新产品下线的报道.docx",
        docx(40),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    row = one_pass(app, make_mail(body="秘书处：\n\n详见附件。" + REVIEWED + "\n\n王芳", attachments=[word]))
    assert row.state == "processed"
    (sub,) = submissions(app)
    assert sub.state == "received"
    (ack,) = letters(app, LIAISON)
    assert "来稿正文以附件（关于新产品下线的报道.docx）报送，秘书处将据附件进行编辑。" in ack.text
    assert "- 关于新产品下线的报道.docx\n" in ack.text
    with app.store.session() as session:
        (kept,) = session.exec(select(StoredAttachment)).all()
    assert kept.sha256 and BlobStore(app.settings.data_dir / "attachments").get(kept.sha256) == word[1]


def test_an_empty_subject_and_body_still_gets_a_title_and_an_answer(app: App) -> None:
    row = one_pass(app, make_mail(subject="", body="", to="mishuchu+baosong@chamber.example.org"))
    assert (row.state, row.intent) == ("processed", "submission")
    (sub,) = submissions(app)
    assert sub.title == "（无标题）"
    (letter,) = letters(app, LIAISON)
    assert "来信未填写主题，暂以“（无标题）”作为信息标题" in letter.text
    assert letter.subject == "【请补充审核确认】BS-2026-0001 （无标题）"


def test_a_hostile_subject_is_one_plain_line_in_the_record_and_the_letters(app: App) -> None:
    hostile = "【报送】新闻\nBcc: everyone@example.org\n\n- <b>加粗</b> | a | b |"
    raw = make_mail(subject="PLACEHOLDER", body="11月20日，新品发布。" + REVIEWED)
    encoded = "=?utf-8?b?" + base64.b64encode(hostile.encode()).decode() + "?="  # line breaks inside one encoded word
    raw = re.sub(rb"Subject: [^\n]*PLACEHOLDER[^\n]*", f"Subject: {encoded}".encode(), raw, count=1)
    one_pass(app, raw)
    (sub,) = submissions(app)
    assert sub.title == "新闻 Bcc: everyone@example.org - <b>加粗</b> | a | b |"
    (ack,) = letters(app, LIAISON)
    assert "\n" not in ack.subject and "Bcc" not in (ack.recipients[0])
    assert "信息标题：新闻 Bcc: everyone@example.org - <b>加粗</b> | a | b |" in ack.text
    assert "<b>加粗" not in (ack.html or "") and "&lt;b&gt;加粗" in (ack.html or "")
