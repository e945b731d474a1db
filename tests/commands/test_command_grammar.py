"""read_commands() reads the secretariat's commands the way Chinese offices and their mail clients write them.

The reply mails below are what Foxmail, QQ Mail, Outlook, Gmail, Apple Mail and NetEase put in the
text part when the secretariat answers the daily digest: new commands on top, the digest (with its
own commands) quoted underneath. The quoted commands must never be read.
"""

from __future__ import annotations

import pytest

from mailflow.commands import MAX_COMMANDS, MAX_LINE_CHARS, CommandLine, Commands, read_commands

DIGEST_SUBJECT = "每日摘要 2026年12月1日"


def said(commands: Commands) -> list[tuple[str, tuple[str, ...]]]:
    return [(command.verb, command.args) for command in commands]


def body(*lines: str, end: str = "\r\n") -> str:
    return end.join(lines) + end


# --- verbs and arguments ----------------------------------------------------------------------


def test_chinese_and_english_verbs() -> None:
    commands = read_commands(
        "",
        body(
            "#重发 12",
            "#resend 15",
            "#更正邮箱 12 new@unit.cn",
            "#fix-address 15 li.ming@hongda-machinery.cn",
            "#查询 BS-2026-0042",
            "#批准 DJ-2026-0007",
            "#approve DJ-2026-0008",
        ),
    )
    assert said(commands) == [
        ("重发", ("12",)),
        ("resend", ("15",)),
        ("更正邮箱", ("12", "new@unit.cn")),
        ("fix-address", ("15", "li.ming@hongda-machinery.cn")),
        ("查询", ("BS-2026-0042",)),
        ("批准", ("DJ-2026-0007",)),
        ("approve", ("DJ-2026-0008",)),
    ]
    assert [c.number for c in commands] == [1, 2, 3, 4, 5, 6, 7]
    assert [c.line for c in commands] == [1, 2, 3, 4, 5, 6, 7]
    assert {c.where for c in commands} == {"body"}
    assert not commands.truncated


def test_full_width_input_is_the_same_command() -> None:
    commands = read_commands(
        "", body("＃重发　１２", "#重发 12", "＃ｒｅｓｅｎｄ　１２", "＃更正邮箱　１２　ｎｅｗ＠ｕｎｉｔ．ｃｎ")
    )
    assert said(commands) == [
        ("重发", ("12",)),
        ("重发", ("12",)),
        ("resend", ("12",)),
        ("更正邮箱", ("12", "new@unit.cn")),
    ]
    assert commands[1].duplicate_of == 1
    assert commands[0].text == "＃重发\u3000１２"  # as written, for the report


def test_english_verbs_are_lower_cased_and_underscore_is_a_hyphen() -> None:
    commands = read_commands("", body("#Resend 12", "#RESEND 12", "#Fix_Address 12 a@b.cn", "#FIX-ADDRESS 12 a@b.cn"))
    assert [c.verb for c in commands] == ["resend", "resend", "fix-address", "fix-address"]
    assert [c.duplicate_of for c in commands] == [None, 1, None, 3]


def test_how_people_glue_the_verb_to_its_argument() -> None:
    commands = read_commands("", body("#重发12", "# 重发 12", "#重发：12", "#重发, 12", "#resend: 12", "#resend重发"))
    assert said(commands) == [
        ("重发", ("12",)),
        ("重发", ("12",)),
        ("重发", ("12",)),
        ("重发", ("12",)),
        ("resend", ("12",)),
        ("resend", ("重发",)),
    ]


def test_mixed_chinese_and_english_in_one_mail() -> None:
    mail = body(
        "秘书处今日处理：",
        "",
        "#重发 12",
        "#resend 15",
        "另外请查一下这条：",
        "＃查询　BS-2026-0042",
        "#approve DJ-2026-0007",
        "",
        "辛苦了",
    )
    commands = read_commands("今日处理", mail)
    assert said(commands) == [
        ("重发", ("12",)),
        ("resend", ("15",)),
        ("查询", ("BS-2026-0042",)),
        ("approve", ("DJ-2026-0007",)),
    ]
    assert [c.line for c in commands] == [3, 4, 6, 7]
    assert [c.number for c in commands] == [1, 2, 3, 4]


def test_a_reason_with_spaces_and_chinese_punctuation_stays_whole() -> None:
    (command,) = read_commands("", body("#退回 DJ-2026-0007 证明材料 第2页 不清晰，请重新扫描（彩色）  "))
    assert command.verb == "退回"
    assert command.args == ("DJ-2026-0007", "证明材料", "第2页", "不清晰,请重新扫描(彩色)")
    assert command.rest_after(1) == "证明材料 第2页 不清晰，请重新扫描（彩色）"
    assert command.rest_after(0) == command.arg_text == "DJ-2026-0007 证明材料 第2页 不清晰，请重新扫描（彩色）"
    assert command.rest_after(4) == ""
    with pytest.raises(ValueError):
        command.rest_after(-1)


def test_a_reason_after_full_width_spaces_and_digits() -> None:
    (command,) = read_commands("", body("＃退回　ＤＪ－２０２６－０００７　照片太小　请重发"))
    assert command.args[0] == "DJ-2026-0007"
    assert command.rest_after(1) == "照片太小　请重发"


def test_the_same_command_twice_is_read_twice_and_marked() -> None:
    commands = read_commands("", body("#重发 12", "#重发 15", "#重发  12", "#resend 12", "＃重发　１２"))
    assert [c.duplicate_of for c in commands] == [None, None, 1, None, 1]
    assert [c.number for c in commands] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "line",
    [
        "#",
        "# ",
        "＃",
        "#1",
        "#12 重发",
        "＃１２",
        "##",
        "## 重发 12",
        "#!",
        "#!重发",
        "#话题#",
        "#x.y",
        "#-resend 12",
        "C# 重发 12",
    ],
)
def test_hash_lines_that_are_not_commands(line: str) -> None:
    assert read_commands(line, body(line)) == ()


def test_free_text_is_ignored_and_a_command_must_start_its_line() -> None:
    mail = body("请 #重发 12，谢谢", "重发 12", "编号#12已处理", "#重发 12")
    assert said(read_commands("", mail)) == [("重发", ("12",))]


# --- the subject ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        "#重发 12",
        "回复：#重发 12",
        "回复:#重发 12",
        "Re: #重发 12",
        "RE：＃重发　１２",
        "答复: 回复: Re: #重发 12",
        "Fw: #重发 12",
        "Fwd: 转发: #重发 12",
        "Re[2]: #重发 12",
        "【自动回复】Re: #重发 12",
        "[EXTERNAL] RE: #重发 12",
        "Re: [成都商会] #重发 12",
        "  回复：  #重发 12  ",
    ],
)
def test_subject_after_reply_and_forward_prefixes(subject: str) -> None:
    (command,) = read_commands(subject, "")
    assert (command.where, command.line, command.verb, command.args) == ("subject", 0, "重发", ("12",))
    assert command.text in subject and command.text[0] in "#＃"


@pytest.mark.parametrize("subject", ["回复：每日摘要 2026年12月1日", "Re: 关于 #重发 12", "Reply: #重发 12", ""])
def test_subject_that_is_no_command(subject: str) -> None:
    assert read_commands(subject, "") == ()


def test_subject_comes_first_and_the_body_repeating_it_is_a_duplicate() -> None:
    commands = read_commands("回复：#resend 12", body("#resend 12", "#resend 15"))
    assert [(c.where, c.line, c.number, c.duplicate_of) for c in commands] == [
        ("subject", 0, 1, None),
        ("body", 1, 2, 1),
        ("body", 2, 3, None),
    ]


def test_a_folded_subject_header_is_one_line() -> None:
    (command,) = read_commands("Re: #退回 DJ-2026-0007\r\n 照片太小", "")
    assert command.rest_after(1) == "照片太小"
    assert "\n" not in command.text and "\r" not in command.text


# --- quoted and forwarded text: real replies --------------------------------------------------

FOXMAIL = body(
    "#重发 12",
    "#批准 DJ-2026-0007",
    "",
    "谢谢",
    "",
    "\u00a0",
    "mishuchu@chamber.example.org",
    "\u00a0",
    "发件人： 成都商会邮件系统",
    "发送时间： 2026-12-01 08:00",
    "收件人： mishuchu",
    "主题： 每日摘要 2026年12月1日",
    "#重发 15",
    "#批准 DJ-2026-0009",
)

QQ_MAIL = body(
    "#resend 12",
    "",
    "",
    "------------------\u00a0原始邮件\u00a0------------------",
    '发件人: "成都商会秘书处"<noreply@chamber.example.org>;',
    "发送时间: 2026年12月1日(星期二) 上午8:00",
    '收件人: "秘书处"<mishuchu@chamber.example.org>;',
    "主题: 每日摘要 2026年12月1日",
    "",
    "未能送达的邮件",
    "#重发 15",
)

OUTLOOK_ZH = body(
    "#采用 BS-2026-0042",
    "#退回 DJ-2026-0007 证明材料不清晰，请重新扫描",
    "",
    "________________________________",
    "发件人: 成都商会 <noreply@chamber.example.org>",
    "发送时间: 2026年12月1日 8:00",
    "收件人: 秘书处 <mishuchu@chamber.example.org>",
    "主题: 每日摘要 2026年12月1日",
    "",
    "#批准 DJ-2026-0008",
)

OUTLOOK_ZH_NO_RULE = body(
    "#查询 BS-2026-0042",
    "",
    "发件人: 成都商会 <noreply@chamber.example.org>",
    "日期: 2026年12月1日星期二 08:00",
    "收件人: 秘书处 <mishuchu@chamber.example.org>",
    "主题: 每日摘要 2026年12月1日",
    "#重发 15",
)

OUTLOOK_EN = body(
    "#resend 12",
    "",
    "-----Original Message-----",
    "From: Chengdu Chamber <noreply@chamber.example.org>",
    "Sent: Tuesday, December 1, 2026 8:00 AM",
    "To: Secretariat <mishuchu@chamber.example.org>",
    "Subject: Daily digest",
    "",
    "#resend 15",
)

OUTLOOK_HTML = body(
    "#resend 12",
    "",
    "**From:** Chengdu Chamber <noreply@chamber.example.org>",
    "**Sent:** Tuesday, December 1, 2026 8:00 AM",
    "**To:** Secretariat <mishuchu@chamber.example.org>",
    "#resend 15",
)

OUTLOOK_ZH_ORIGINAL = body("#重发 12", "", "-----原始邮件-----", "发件人: 成都商会", "#重发 15")

GMAIL_EN = body(
    "#resend 12",
    "#fix-address 15 li.new@hongda-machinery.cn",
    "",
    "On Tue, Dec 1, 2026 at 8:00 AM Chengdu Chamber <noreply@chamber.example.org> wrote:",
    "",
    "> Letters not delivered",
    "> #resend 12",
)

GMAIL_EN_WRAPPED = body(
    "#resend 12",
    "",
    "On Tue, Dec 1, 2026 at 8:00 AM Chengdu Chamber of Commerce <noreply@chamber.example.org>",
    "wrote:",
    "",
    "#resend 15",  # an HTML blockquote turned into text: no `>` left
)

GMAIL_ZH = body(
    "#重发 12",
    "",
    "成都商会 <noreply@chamber.example.org> 于2026年12月1日周二 08:00写道：",
    "",
    "#重发 15",
)

GMAIL_ZH_OLD = body(
    "#重发 12",
    "",
    "在 2026年12月1日 上午8:00，成都商会 <noreply@chamber.example.org> 写道：",
    "#重发 15",
)

APPLE_MAIL_IPHONE = body(
    "#查询 BS-2026-0042",
    "",
    "发自我的iPhone",
    "",
    "> 在 2026年12月1日，08:00，成都商会 <noreply@chamber.example.org> 写道：",
    ">",
    "> #重发 12",
)

APPLE_MAIL_MAC = body(
    "#resend 12",
    "",
    "On Dec 1, 2026, at 08:00, Chengdu Chamber <noreply@chamber.example.org> wrote:",
    "",
    "#resend 15",
)

APPLE_MAIL_FORWARD = body(
    "#重发 12",
    "",
    "开始转发的邮件：",
    "",
    "发件人: 成都商会 <noreply@chamber.example.org>",
    "#重发 15",
)

NETEASE_REPLY = body(
    "#重发 12",
    "\u00a0",
    "\u00a0",
    "---- 回复的原邮件 ----",
    "| 发件人 | 成都商会<noreply@chamber.example.org> |",
    "| 日期 | 2026年12月01日 08:00 |",
    "| 收件人 | 秘书处<mishuchu@chamber.example.org> |",
    "| 主题 | 每日摘要 2026年12月1日 |",
    "#重发 15",
)

NETEASE_WEB = body(
    "#重发 12",
    "",
    '在 2026-12-01 08:00:00，"成都商会" <noreply@chamber.example.org> 写道：',
    "#重发 15",
)

NETEASE_FORWARD = body(
    "#重发 12",
    "",
    "-------- 转发邮件信息 --------",
    '发件人："成都商会" <noreply@chamber.example.org>',
    "发送日期：2026-12-01 08:00:00",
    "#重发 15",
)

GMAIL_FORWARD = body("#resend 12", "", "---------- Forwarded message ---------", "From: Chamber", "#resend 15")

SIGNATURE = body("#重发 12", "", "-- ", "成都商会秘书处 张敏", "#重发 15")

PLAIN_QUOTE = body("#重发 12", "", "> #重发 15", "#重发 16")

FULL_WIDTH_QUOTE = body("#重发 12", "＞ #重发 15", "#重发 16")


@pytest.mark.parametrize(
    ("mail", "expected"),
    [
        (FOXMAIL, [("重发", ("12",)), ("批准", ("DJ-2026-0007",))]),
        (QQ_MAIL, [("resend", ("12",))]),
        (OUTLOOK_ZH, [("采用", ("BS-2026-0042",)), ("退回", ("DJ-2026-0007", "证明材料不清晰,请重新扫描"))]),
        (OUTLOOK_ZH_NO_RULE, [("查询", ("BS-2026-0042",))]),
        (OUTLOOK_EN, [("resend", ("12",))]),
        (OUTLOOK_HTML, [("resend", ("12",))]),
        (OUTLOOK_ZH_ORIGINAL, [("重发", ("12",))]),
        (GMAIL_EN, [("resend", ("12",)), ("fix-address", ("15", "li.new@hongda-machinery.cn"))]),
        (GMAIL_EN_WRAPPED, [("resend", ("12",))]),
        (GMAIL_ZH, [("重发", ("12",))]),
        (GMAIL_ZH_OLD, [("重发", ("12",))]),
        (APPLE_MAIL_IPHONE, [("查询", ("BS-2026-0042",))]),
        (APPLE_MAIL_MAC, [("resend", ("12",))]),
        (APPLE_MAIL_FORWARD, [("重发", ("12",))]),
        (NETEASE_REPLY, [("重发", ("12",))]),
        (NETEASE_WEB, [("重发", ("12",))]),
        (NETEASE_FORWARD, [("重发", ("12",))]),
        (GMAIL_FORWARD, [("resend", ("12",))]),
        (SIGNATURE, [("重发", ("12",))]),
        (PLAIN_QUOTE, [("重发", ("12",))]),
        (FULL_WIDTH_QUOTE, [("重发", ("12",))]),
    ],
    ids=[
        "foxmail",
        "qq-mail",
        "outlook-zh",
        "outlook-zh-no-rule",
        "outlook-en",
        "outlook-html",
        "outlook-zh-original",
        "gmail-en",
        "gmail-en-wrapped",
        "gmail-zh",
        "gmail-zh-old",
        "apple-iphone",
        "apple-mac",
        "apple-forward",
        "netease-reply",
        "netease-web",
        "netease-forward",
        "gmail-forward",
        "signature",
        "quote",
        "full-width-quote",
    ],
)
def test_commands_in_the_quoted_part_are_never_read(mail: str, expected: list[tuple[str, tuple[str, ...]]]) -> None:
    assert said(read_commands("回复：" + DIGEST_SUBJECT, mail)) == expected


@pytest.mark.parametrize(
    "boundary",
    [
        "> 原文",
        "＞ 原文",
        "-- ",
        "--",
        "________________________________",
        "-----Original Message-----",
        "-----原始邮件-----",
        "------------------ 原始邮件 ------------------",
        "---- 回复的原邮件 ----",
        "-------- 转发邮件信息 --------",
        "---------- Forwarded message ---------",
        "---------- 转发的邮件 ---------",
        "Begin forwarded message:",
        "开始转发的邮件：",
        "On Tue, Dec 1, 2026 at 3:00 PM 张三 <zhangsan@chamber.example.org> wrote:",
        "在 2026年12月1日 15:00，张三 <zhangsan@chamber.example.org> 写道：",
        "张三 <zhangsan@chamber.example.org> 于2026年12月1日周二 15:00写道：",
        'At 2026-12-01 08:00:00, "张三" <zhangsan@163.com> wrote:',
    ],
)
def test_each_boundary_line_ends_the_senders_text(boundary: str) -> None:
    assert said(read_commands("", body("#重发 1", boundary, "#重发 2"))) == [("重发", ("1",))]


@pytest.mark.parametrize(
    "block",
    [
        ("发件人: 张三 <zhangsan@chamber.example.org>", "发送时间: 2026年12月1日 15:00"),
        ("发件人：张三", "", "", "收件人：李四"),
        ("From: Zhang San", "Date: Tue, 1 Dec 2026 15:00:00 +0800"),
        ("From: Zhang San", "To: Li Si"),
        ("From: a", "From: b", "x", "x", "x", "x", "Sent: y"),  # the second From starts the block
    ],
)
def test_a_header_block_ends_the_senders_text(block: tuple[str, ...]) -> None:
    assert said(read_commands("", body("#重发 1", *block, "#重发 2"))) == [("重发", ("1",))]


def test_a_from_line_without_a_header_block_within_five_lines_does_not() -> None:
    mail = body("#重发 1", "From: Zhang San", "x", "x", "x", "x", "x", "Sent: y", "#重发 2")
    assert said(read_commands("", mail)) == [("重发", ("1",)), ("重发", ("2",))]


def test_free_text_that_only_looks_like_a_quote_does_not_stop_reading() -> None:
    mail = body(
        "发件人：王芳（宏达机械）的登记请批准",
        "#批准 DJ-2026-0007",
        "王主任在回信中写道：",
        "#重发 12",
        "---",
        "#重发 15",
        "From: the desk of the secretary-general",
        "#resend 16",
        "-- 以下为附言 --",
        "#resend 17",
    )
    assert [c.args[0] for c in read_commands("", mail)] == ["DJ-2026-0007", "12", "15", "16", "17"]


# --- what text conversion and line ends leave behind -----------------------------------------


def test_html_converted_body_with_stray_spaces() -> None:
    mail = body(
        "\u00a0",
        "\u00a0＃重发\u00a012\u00a0",
        "\u200b#resend 15\u200b",
        "\t#查询\u00a0\u00a0BS-2026-0042 ",
        "\ufeff# 批准 DJ-2026-0007",
        "   ",
        "\u3000\u3000#退回\u3000DJ-2026-0008\u3000照片 太小",
    )
    commands = read_commands("", mail)
    assert said(commands) == [
        ("重发", ("12",)),
        ("resend", ("15",)),
        ("查询", ("BS-2026-0042",)),
        ("批准", ("DJ-2026-0007",)),
        ("退回", ("DJ-2026-0008", "照片", "太小")),
    ]
    assert [c.line for c in commands] == [2, 3, 4, 5, 7]
    assert commands[0].text == "＃重发\u00a012"
    assert commands[4].rest_after(1) == "照片 太小"


@pytest.mark.parametrize("end", ["\r\n", "\n", "\r"])
def test_line_ends(end: str) -> None:
    mail = body("秘书处：", "#重发 12", "", "#resend 15", "> #resend 16", end=end)
    commands = read_commands("", mail)
    assert said(commands) == [("重发", ("12",)), ("resend", ("15",))]
    assert [c.line for c in commands] == [2, 4]
    assert all("\r" not in c.text and "\n" not in c.text for c in commands)


def test_mixed_line_ends_count_lines_like_an_editor() -> None:
    commands = read_commands("", "#重发 1\r\n#重发 2\r#重发 3\n\r\n#重发 5")
    assert [(c.line, c.args) for c in commands] == [(1, ("1",)), (2, ("2",)), (3, ("3",)), (5, ("5",))]


# --- bounds -----------------------------------------------------------------------------------


def test_the_cap_on_commands() -> None:
    exactly = read_commands("", body(*(f"#重发 {n}" for n in range(MAX_COMMANDS))))
    assert len(exactly) == MAX_COMMANDS and not exactly.truncated

    over = read_commands("#resend 0", body(*(f"#重发 {n}" for n in range(MAX_COMMANDS + 10))))
    assert len(over) == MAX_COMMANDS and over.truncated
    assert over[-1].args == (str(MAX_COMMANDS - 2),)


def test_commands_past_the_cap_in_the_quoted_part_do_not_count() -> None:
    mail = body(*(f"#重发 {n}" for n in range(MAX_COMMANDS)), "> #重发 99", "#重发 100")
    commands = read_commands("", mail)
    assert len(commands) == MAX_COMMANDS and not commands.truncated


def test_an_overlong_command_line_is_not_read_and_says_so() -> None:
    reason = "照片太小" * (MAX_LINE_CHARS // 4)
    mail = body(f"#退回 DJ-2026-0007 {reason}", "#重发 12", "说明" * MAX_LINE_CHARS)
    commands = read_commands("", mail)
    assert said(commands) == [("重发", ("12",))] and commands.truncated
    assert not read_commands("", body("说明" * MAX_LINE_CHARS, "#" * (2 * MAX_LINE_CHARS), "#重发 12")).truncated


def test_five_megabytes_of_commands() -> None:
    commands = read_commands("", "#x\n" * (5 * 1024 * 1024 // 3))
    assert len(commands) == MAX_COMMANDS and commands.truncated
    assert {c.verb for c in commands} == {"x"}
    assert [c.duplicate_of for c in commands] == [None] + [1] * (MAX_COMMANDS - 1)


def test_five_megabytes_of_quote() -> None:
    quoted = "> #重发 12 " + "x" * 60 + "\r\n"
    commands = read_commands("", "#重发 15\r\n" + quoted * (5 * 1024 * 1024 // len(quoted)))
    assert said(commands) == [("重发", ("15",))] and not commands.truncated


def test_five_megabytes_of_free_text_and_one_long_line() -> None:
    assert read_commands("", "说明文字，不是命令。\n" * (5 * 1024 * 1024 // 11)) == ()
    one_line = read_commands("", "#重发 12 " + "不" * (5 * 1024 * 1024))
    assert len(one_line) == 0 and one_line.truncated
    assert read_commands("", "From: x\n" * (1024 * 1024 // 8)) == ()  # each looks ahead for Sent:/To:


# --- the result -------------------------------------------------------------------------------


def test_the_result_is_an_immutable_tuple() -> None:
    commands = read_commands("", body("#重发 12"))
    assert isinstance(commands[0], CommandLine) and "truncated=False" in repr(commands)
    with pytest.raises(AttributeError):
        commands.truncated = True
    with pytest.raises(AttributeError):
        del commands.truncated
    with pytest.raises(AttributeError):
        commands[0].verb = "resend"  # type: ignore[misc]
    assert Commands().truncated is False
    assert tuple(commands) == commands and commands == (commands[0],)
