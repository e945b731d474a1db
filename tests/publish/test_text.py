"""A submission's mail becomes the article's paragraphs and title, without the mail around it."""

from __future__ import annotations

from mailflow.publish.text import headline, paragraphs, summary

MAIL = """尊敬的秘书处领导：

\u3000\u3000我公司新型数控机床于12月1日下线。
\u3000\u3000该机床精度达到国际先进水平。
> 上次来信引用的内容

此致
敬礼！
已经单位负责人审核
王芳
宏达机械有限公司
手机：13800000000
2026年12月2日

在 2026年11月30日 10:00，秘书处 写道：
请各单位报送信息。
"""


def test_the_article_is_its_paragraphs_only() -> None:
    assert paragraphs(MAIL, names=("宏达机械有限公司", "王芳")) == [
        "我公司新型数控机床于12月1日下线。",
        "该机床精度达到国际先进水平。",
    ]


def test_a_closing_line_that_is_the_articles_own_stays() -> None:
    text = "我公司召开安全生产大会。\n会议强调，安全生产责任重于泰山，全体员工要牢固树立安全意识，确保全年无事故。"
    assert len(paragraphs(text)) == 2
    assert paragraphs("秘书处：") == ["秘书处："]  # a lone line is never taken for a greeting


def test_the_title_loses_reply_marks_tags_and_our_reference() -> None:
    assert headline("回复：【技术】金牛泵业研制成功高效节能离心泵") == "金牛泵业研制成功高效节能离心泵"
    assert headline("Re: BS-2026-0042 我公司新闻") == "我公司新闻"
    assert headline("【报送】") == "【报送】"  # nothing but the tag: kept rather than empty


def test_the_summary_is_the_first_paragraph_cut_short() -> None:
    assert summary("秘书处：\n" + "长" * 200, limit=10) == "长" * 9 + "…"


def test_sentences_written_to_the_secretariat_are_not_printed() -> None:
    text = (
        "11月18日至21日，我公司参加了2026中国国际机床展览会，现场签约意向订单3200万元。本稿已经公司总经理审阅同意，"
        "现报送相关信息及现场照片，请审阅。\n我公司联合高校完成数控系统国产化改造。已经单位负责人审核。\n"
        "现将有关情况报送如下，请审阅。\n关键部件自给率达到九成。"
    )
    assert paragraphs(text) == [
        "11月18日至21日，我公司参加了2026中国国际机床展览会，现场签约意向订单3200万元。",
        "我公司联合高校完成数控系统国产化改造。",
        "关键部件自给率达到九成。",
    ]
    kept = "市领导现场察看了生产线，请企业做好安全生产工作。"  # "请" addressed to others, no note: kept
    assert paragraphs(kept) == [kept]
