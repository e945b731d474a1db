"""parse() decodes what Chinese mail clients really send: mislabelled charsets, raw 8-bit, RFC 2047/2231."""

from __future__ import annotations

import base64
import quopri
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest

from mailflow.parse import Address, ParsedMail, parse

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUBJECT = "【报送】我公司参加2026中国机械工业博览会"
BODY = "秘书处：\n我公司于11月20日参加2026中国机械工业博览会，现报送参展信息。\n王芳"
PHOTO = "展会现场照片.jpg"
RECEIPT = "年度会费缴纳凭证.pdf"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"
NL = b"\r\n"


# --- builders: bytes the way the clients write them -------------------------------------------


def encoded_words(
    text: str, *, charset: str = "utf-8", codec: str | None = None, q: bool = False, split_every: int | None = None
) -> bytes:
    """RFC 2047 words; `split_every` cuts the bytes blindly, often inside a character, as Outlook does."""
    data = text.encode(codec or charset)
    size = split_every or len(data) or 1
    words = []
    for start in range(0, max(len(data), 1), size):
        chunk = data[start : start + size]
        if q:
            body = b"".join(bytes([c]) if c < 0x80 and chr(c).isalnum() else b"=%02X" % c for c in chunk)
            words.append(b"=?" + charset.encode() + b"?Q?" + body + b"?=")
        else:
            words.append(b"=?" + charset.encode() + b"?B?" + base64.b64encode(chunk) + b"?=")
    return (NL + b" ").join(words)


def rfc2231(name: str, text: str, *, charset: str = "utf-8", sections: int = 1, lang: str = "") -> bytes:
    """`name*=` or `name*0*=`/`name*1*=` continuations, split between %XX escapes."""
    escapes = [quote_from_bytes(bytes([b]), safe=".-_") for b in text.encode(charset)]
    per = -(-len(escapes) // sections)
    pieces = ["".join(escapes[i : i + per]) for i in range(0, len(escapes), per)]
    prefix = f"{charset}'{lang}'"
    if sections == 1:
        return f"{name}*={prefix}{pieces[0]}".encode()
    return ";\r\n\t".join(f"{name}*{i}*={prefix if i == 0 else ''}{p}" for i, p in enumerate(pieces)).encode()


def attachment(
    *,
    content_type: bytes,
    disposition: bytes | None = b"attachment",
    data: bytes = PDF,
    encoding: bytes = b"base64",
    extra: bytes = b"",
) -> bytes:
    """One MIME part with header values given byte for byte."""
    lines = [b"Content-Type: " + content_type]
    if disposition is not None:
        lines.append(b"Content-Disposition: " + disposition)
    lines.append(b"Content-Transfer-Encoding: " + encoding)
    if extra:
        lines.append(extra)
    body = base64.encodebytes(data).replace(b"\n", NL) if encoding == b"base64" else data
    return NL.join(lines) + NL + NL + body


def multipart(kind: str, parts: Sequence[bytes], *, boundary: bytes | None = None) -> bytes:
    boundary = boundary or b"==_%s_%d" % (kind.encode(), len(parts))
    head = b"Content-Type: multipart/" + kind.encode() + b'; boundary="' + boundary + b'"' + NL + NL
    body = b"".join(b"--" + boundary + NL + part + NL for part in parts)
    return head + body + b"--" + boundary + b"--" + NL


def text_part(
    text: str | bytes,
    *,
    subtype: str = "plain",
    charset: str | None = "utf-8",
    codec: str | None = None,
    encoding: bytes = b"base64",
    extra: bytes = b"",
) -> bytes:
    data = text if isinstance(text, bytes) else text.encode(codec or charset or "utf-8")
    label = b"; charset=" + charset.encode() if charset else b""
    return attachment(
        content_type=b"text/" + subtype.encode() + label, disposition=None, data=data, encoding=encoding, extra=extra
    )


def make_raw(
    *,
    subject: str | bytes = SUBJECT,
    body: str | bytes | None = BODY,
    charset: str | None = "utf-8",
    codec: str | None = None,
    html: str | None = None,
    attachments: Sequence[bytes] = (),
    sender: bytes = b'"' + encoded_words("王芳") + b'" <wangfang@hongda-machinery.cn>',
    headers: Sequence[bytes] = (),
    encoding: bytes = b"base64",
) -> bytes:
    """A whole message. `charset` is the label written, `codec` how the text is really encoded."""
    head = [b"From: " + sender] if sender else []
    head += [
        b"To: mishuchu@chamber.example.org",
        b"Subject: " + (subject if isinstance(subject, bytes) else encoded_words(subject)),
        b"Date: Tue, 24 Nov 2026 09:30:00 +0800",
        b"Message-ID: <20261124093000.1234@hongda-machinery.cn>",
        b"MIME-Version: 1.0",
        *headers,
    ]
    parts = []
    if body is not None:
        parts.append(text_part(body, charset=charset, codec=codec, encoding=encoding))
    if html is not None:
        parts.append(text_part(html, subtype="html", charset=charset, codec=codec, encoding=encoding))
    content = parts[0] if len(parts) == 1 else multipart("alternative", parts)
    if attachments:
        content = multipart("mixed", [content, *attachments])
    return NL.join(head) + NL + content


def no_replacement_marks(mail: ParsedMail) -> None:
    assert "\ufffd" not in mail.subject
    assert "\ufffd" not in mail.text
    assert all("\ufffd" not in a.filename for a in mail.attachments)


# --- charsets of bodies -----------------------------------------------------------------------


def test_gb2312_label_on_gbk_text_decodes_as_gb18030() -> None:
    """GIVEN Foxmail's "gb2312" label on text with GBK-only characters (喆, 镕) WHEN parsed THEN exact."""
    text = "联系人：王喆、朱镕"
    with pytest.raises(UnicodeDecodeError):
        text.encode("gbk").decode("gb2312")
    mail = parse(make_raw(body=text, charset="gb2312", codec="gbk"))
    assert mail.text == text
    assert mail.defects == ()


def test_gbk_label_with_four_byte_gb18030_character() -> None:
    text = "𠮷野家 参展"
    mail = parse(make_raw(body=text, charset="GBK", codec="gb18030"))
    assert mail.text == text


def test_big5_label_covers_hkscs_characters() -> None:
    text = "敬請查收展會報名表，嘅"
    with pytest.raises(UnicodeDecodeError):
        text.encode("big5hkscs").decode("big5")
    assert parse(make_raw(body=text, charset="big5", codec="big5hkscs")).text == text


@pytest.mark.parametrize("codec", ["utf-8", "gbk"])
def test_missing_charset_is_guessed(codec: str) -> None:
    mail = parse(make_raw(body=BODY, charset=None, codec=codec))
    assert mail.text == BODY


def test_missing_charset_falls_back_to_latin1_with_a_defect() -> None:
    mail = parse(make_raw(body="Café ± 5".encode("latin-1"), charset=None))
    assert mail.text == "Café ± 5"
    assert any("no charset" in d for d in mail.defects)


@pytest.mark.parametrize(
    ("label", "codec"),
    [("utf-8", "gbk"), ("big5", "utf-8"), ("gb2312", "utf-8"), ("us-ascii", "gbk"), ("iso-8859-1", "utf-8")],
)
def test_wrong_charset_label_is_corrected(label: str, codec: str) -> None:
    """GIVEN a label that does not match the bytes WHEN parsed THEN the text is right and a defect says so."""
    mail = parse(make_raw(body=BODY, charset=label, codec=codec))
    assert mail.text == BODY
    assert any(f"labelled '{label}'" in d for d in mail.defects)


def test_damaged_utf8_is_not_handed_to_gb18030() -> None:
    """One bad byte in a long UTF-8 text keeps the text UTF-8 instead of turning it all into nonsense."""
    data = "秘书处：请查收参展信息。".encode() + b"\xff" + "王芳敬上".encode()
    mail = parse(make_raw(body=data, charset="utf-8"))
    assert mail.text.startswith("秘书处：请查收参展信息。")
    assert mail.text.endswith("王芳敬上")
    no_replacement_marks(mail)


def test_text_cut_inside_the_last_character_drops_only_that_character() -> None:
    data = BODY.encode("gbk")[:-1]
    mail = parse(make_raw(body=data, charset="gb2312"))
    assert mail.text == BODY[:-1]


@pytest.mark.parametrize(
    ("label", "codec", "text"),
    [
        ("x-unknown", "utf-8", BODY),
        ("gb_2312-80", "gbk", BODY),
        ("cp936", "gbk", BODY),
        ("x-gbk", "gbk", BODY),
        ("GB2312-80", "gbk", BODY),
        ("ks_c_5601-1987", "cp949", "안녕하세요, 전시회 참가 신청서입니다"),
        ("_iso-2022-jp$ESC", "iso2022_jp", "展示会の参加申込書"),
        ("unicodebig", "utf-16-be", BODY),
        ("", "utf-8", BODY),
    ],
)
def test_unknown_and_alias_charset_names(label: str, codec: str, text: str) -> None:
    raw = make_raw(body=text, charset=label or None, codec=codec)
    assert parse(raw).text == text


# --- raw 8-bit headers ------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["gbk", "utf-8"])
def test_raw_8bit_subject_and_sender(codec: str) -> None:
    """GIVEN a webmail that writes headers as raw GBK or UTF-8 bytes WHEN parsed THEN they decode exactly."""
    raw = make_raw(
        subject=SUBJECT.encode(codec),
        sender="王芳".encode(codec) + b" <WangFang@Hongda-Machinery.cn>",
        body=BODY,
        charset="gb2312" if codec == "gbk" else "utf-8",
        codec=codec,
    )
    mail = parse(raw)
    assert mail.subject == SUBJECT
    assert mail.from_ == Address("王芳", "wangfang@hongda-machinery.cn")
    assert mail.header("subject") == SUBJECT


def test_raw_big5_headers_follow_the_body_charset() -> None:
    raw = make_raw(subject="展會報名表".encode("big5"), body="敬請查收", charset="big5", codec="big5")
    assert parse(raw).subject == "展會報名表"


# --- RFC 2047 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("split_every", [1, 2, 4, 7, 13])
def test_subject_split_inside_a_character_across_encoded_words(split_every: int) -> None:
    subject = encoded_words(SUBJECT, split_every=split_every)
    assert parse(make_raw(subject=subject)).subject == SUBJECT


def test_gbk_q_encoded_words_split_inside_a_character() -> None:
    subject = encoded_words(SUBJECT, charset="gb2312", codec="gbk", q=True, split_every=5)
    assert parse(make_raw(subject=subject)).subject == SUBJECT


def test_encoded_word_with_a_wrong_charset_label() -> None:
    subject = b"=?utf-8?B?" + base64.b64encode(SUBJECT.encode("gbk")) + b"?="
    assert parse(make_raw(subject=subject)).subject == SUBJECT


def test_q_encoding_underscores_and_plain_text_around_words() -> None:
    subject = b"Re: " + encoded_words("会费 凭证", q=True) + b" (2)"
    assert parse(make_raw(subject=subject)).subject == "Re: 会费 凭证 (2)"


def test_encoded_words_in_quoted_display_names_and_lower_case_email() -> None:
    raw = make_raw(
        sender=b'"' + encoded_words("王芳", charset="gb2312", codec="gbk") + b'" <WangFang@Hongda-Machinery.CN>',
        headers=[
            b"Cc: =?utf-8?Q?Li=2C_Jianguo?= <Leader@hongda-machinery.cn>, "
            + encoded_words("秘书处")
            + b" <mishuchu@chamber.example.org>"
        ],
    )
    mail = parse(raw)
    assert mail.from_ == Address("王芳", "wangfang@hongda-machinery.cn")
    assert mail.cc == (
        Address("Li, Jianguo", "leader@hongda-machinery.cn"),
        Address("秘书处", "mishuchu@chamber.example.org"),
    )


# --- attachment names -------------------------------------------------------------------------


def _only_attachment(*parts: bytes) -> tuple[str, str]:
    mail = parse(make_raw(attachments=parts))
    assert len(mail.attachments) == len(parts)
    no_replacement_marks(mail)
    return mail.attachments[0].filename, mail.attachments[0].content_type


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        (b"attachment; " + rfc2231("filename", RECEIPT), RECEIPT),
        (b"attachment;\r\n\t" + rfc2231("filename", RECEIPT, sections=3), RECEIPT),
        (b"attachment; " + rfc2231("filename", RECEIPT, charset="gb2312", lang="zh-cn"), RECEIPT),
        (b"attachment; " + rfc2231("filename", "2026年" + RECEIPT, charset="gbk", sections=2), "2026年" + RECEIPT),
        (b'attachment; filename*0="report-2026-"; filename*1="final.pdf"', "report-2026-final.pdf"),
        (b'attachment; filename="' + encoded_words(RECEIPT, charset="gb2312", codec="gbk") + b'"', RECEIPT),
        (b'attachment; filename="' + encoded_words(RECEIPT, split_every=5) + b'"', RECEIPT),
        (b"attachment; filename=" + encoded_words(RECEIPT), RECEIPT),
        (b'attachment; filename="' + RECEIPT.encode("gbk") + b'"', RECEIPT),
        (b'attachment; filename="' + RECEIPT.encode("utf-8") + b'"', RECEIPT),
        (b'attachment; filename="report.pdf"; ' + rfc2231("filename", RECEIPT), RECEIPT),
    ],
    ids=[
        "2231",
        "2231-continued",
        "2231-charset-lang",
        "2231-gbk-continued",
        "2231-plain-continued",
        "outlook-quoted-2047",
        "split-2047",
        "bare-2047",
        "raw-gbk",
        "raw-utf8",
        "2231-wins",
    ],
)
def test_attachment_filename_styles(disposition: bytes, expected: str) -> None:
    part = attachment(content_type=b"application/pdf", disposition=disposition)
    assert _only_attachment(part) == (expected, "application/pdf")


def test_rfc2231_section_split_inside_a_percent_escape() -> None:
    disposition = b"attachment; filename*0*=utf-8''%E5%B9%B4%E5; filename*1*=%BA%A6.pdf"
    assert _only_attachment(attachment(content_type=b"application/pdf", disposition=disposition))[0] == "年度.pdf"


def test_name_only_in_content_type_as_qq_mail_and_foxmail_write_it() -> None:
    part = attachment(
        content_type=b'image/jpeg; name="' + encoded_words(PHOTO, charset="gb2312", codec="gbk") + b'"',
        disposition=None,
        data=b"\xff\xd8\xff\xd9",
    )
    assert _only_attachment(part) == (PHOTO, "image/jpeg")


def test_raw_8bit_name_in_content_type() -> None:
    part = attachment(content_type=b'image/jpeg; name="' + PHOTO.encode("gbk") + b'"', disposition=b"attachment")
    assert _only_attachment(part)[0] == PHOTO


# --- bodies and structure ---------------------------------------------------------------------


def test_html_only_body_gives_readable_text_and_keeps_html() -> None:
    html = (
        "<html><head><title>t</title><style>p{color:red}</style><script>alert('x')</script></head>"
        "<body><p>秘书处：</p><div>我公司&nbsp;参加&lt;2026&gt;博览会<br>联系人：王芳</div>"
        "<table><tr><td>展位</td><td>A021</td></tr></table></body></html>"
    )
    mail = parse(make_raw(body=None, html=html))
    assert mail.text == "秘书处：\n我公司 参加<2026>博览会\n联系人：王芳\n展位 A021"
    assert mail.html == html


def test_html_with_an_unclosed_head_still_has_text() -> None:
    html = "<html><head><meta charset=utf-8><title>通知</title><body><div>请于周五前报送</div></body></html>"
    assert parse(make_raw(body=None, html=html)).text == "请于周五前报送"


def test_alternative_prefers_text_plain() -> None:
    mail = parse(make_raw(body="纯文本正文", html="<p>网页正文</p>"))
    assert mail.text == "纯文本正文"
    assert mail.html == "<p>网页正文</p>"


def test_blank_text_plain_falls_back_to_the_html() -> None:
    assert parse(make_raw(body="\r\n", html="<p>网页正文</p>")).text == "网页正文"


def test_html_charset_from_meta_when_the_header_has_none() -> None:
    html = '<meta http-equiv="Content-Type" content="text/html; charset=gb2312"><p>秘书处您好</p>'
    assert parse(make_raw(body=None, html=html, charset=None, codec="gbk")).text == "秘书处您好"


def test_nested_multiparts_with_related_inline_image() -> None:
    """GIVEN QQ Mail's mixed > alternative > related(html, cid image) + attachment WHEN parsed THEN all found."""
    image = attachment(
        content_type=b'image/jpeg; name="' + encoded_words(PHOTO) + b'"',
        disposition=None,
        data=b"\xff\xd8\xff\xd9",
        extra=b"Content-ID: <img001@qq.com>",
    )
    related = multipart("related", [text_part('<p>见图</p><img src="cid:img001@qq.com">', subtype="html"), image])
    alternative = multipart("alternative", [text_part("见图"), related])
    pdf = attachment(content_type=b"application/pdf", disposition=b"attachment; " + rfc2231("filename", RECEIPT))
    raw = NL.join([b"From: a@b.cn", b"Subject: x"]) + NL + multipart("mixed", [alternative, pdf])
    mail = parse(raw)
    assert mail.text == "见图"
    assert [(a.filename, a.content_type, a.inline, a.content_id) for a in mail.attachments] == [
        (PHOTO, "image/jpeg", True, "img001@qq.com"),
        (RECEIPT, "application/pdf", False, None),
    ]
    assert mail.attachments[0].data == b"\xff\xd8\xff\xd9"
    assert mail.attachments[1].data == PDF


def test_forwarded_message_is_an_eml_attachment_with_its_own_bytes() -> None:
    inner = make_raw(subject="参展确认函", body="展位号A021")
    forward = b"Content-Type: message/rfc822" + NL + b"Content-Disposition: attachment" + NL + NL + inner
    mail = parse(make_raw(subject="转发: 参展确认函", body="请备案", attachments=[forward]))
    assert mail.text == "请备案"
    (eml,) = mail.attachments
    assert (eml.filename, eml.content_type) == ("参展确认函.eml", "message/rfc822")
    assert eml.data == inner
    assert parse(eml.data).text == "展位号A021"


def test_forwarded_message_keeps_a_given_name() -> None:
    forward = b'Content-Type: message/rfc822; name="fwd.eml"' + NL + NL + make_raw(subject="x")
    assert parse(make_raw(attachments=[forward])).attachments[0].filename == "fwd.eml"


def test_text_part_with_attachment_disposition_is_an_attachment() -> None:
    note = attachment(
        content_type=b"text/plain; charset=gbk",
        data="参展说明".encode("gbk"),
        disposition=b'attachment; filename="' + encoded_words("说明.txt") + b'"',
    )
    mail = parse(make_raw(body="正文", attachments=[note]))
    assert mail.text == "正文"
    assert [(a.filename, a.content_type, a.data) for a in mail.attachments] == [
        ("说明.txt", "text/plain", "参展说明".encode("gbk"))
    ]


# --- addresses, ids, dates, headers -----------------------------------------------------------


def test_garbage_recipients_and_missing_from() -> None:
    raw = make_raw(sender=b"", headers=[b"Cc: undisclosed-recipients:;"])
    mail = parse(raw)
    assert mail.from_ is None
    assert mail.cc == ()
    assert mail.to == (Address("", "mishuchu@chamber.example.org"),)


def test_ids_are_stripped_of_angle_brackets() -> None:
    raw = make_raw(
        headers=[b"In-Reply-To: <a1@x.cn> (message from Wang)", b"References: <r0@x.cn>\r\n <r1@x.cn>   <a1@x.cn>"]
    )
    mail = parse(raw)
    assert mail.message_id == "20261124093000.1234@hongda-machinery.cn"
    assert mail.in_reply_to == "a1@x.cn"
    assert mail.references == ("r0@x.cn", "r1@x.cn", "a1@x.cn")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"Tue, 24 Nov 2026 09:30:00 +0800", datetime(2026, 11, 24, 9, 30, tzinfo=timezone(timedelta(hours=8)))),
        (b"Tue, 24 Nov 2026 09:30:00 -0000", datetime(2026, 11, 24, 9, 30, tzinfo=UTC)),
        (b"24 Nov 2026 09:30:00", datetime(2026, 11, 24, 9, 30, tzinfo=UTC)),
        (b"2026\xc4\xea11\xd4\xc224\xc8\xd5", None),
        (b"not a date", None),
    ],
)
def test_dates_are_aware_or_none(value: bytes, expected: datetime | None) -> None:
    raw = make_raw().replace(b"Date: Tue, 24 Nov 2026 09:30:00 +0800", b"Date: " + value)
    assert parse(raw).date == expected


def test_headers_are_lower_case_first_value_decoded() -> None:
    raw = make_raw(
        headers=[
            b"Auto-Submitted: auto-replied",
            b"Precedence: bulk",
            b"List-Id: <members.chamber.example.org>",
            b"X-Autoreply: yes",
            b"X-Auto-Response-Suppress: All",
            b"Return-Path: <>",
            b"Return-Path: <second@x.cn>",
            b"X-Note: " + encoded_words("自动回复"),
        ]
    )
    headers = parse(raw).headers
    assert headers["auto-submitted"] == "auto-replied"
    assert headers["precedence"] == "bulk"
    assert headers["list-id"] == "<members.chamber.example.org>"
    assert headers["x-autoreply"] == "yes"
    assert headers["x-auto-response-suppress"] == "All"
    assert headers["return-path"] == "<>"
    assert headers["x-note"] == "自动回复"
    assert headers["content-type"] == "text/plain; charset=utf-8"


# --- transfer encodings and line endings ------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        (b"base64", lambda d: base64.b64encode(d).rstrip(b"=")),  # padding lost
        (b"base64", lambda d: b"!!" + base64.b64encode(d)[:8] + b"*\x00*" + base64.b64encode(d)[8:]),
        (b"Base64; charset=utf-8", lambda d: base64.b64encode(d)),
        (b"quoted-printable", lambda d: quopri.encodestring(d.replace(NL, b"\n")).replace(b"\n", NL)),
        (b"8bit", lambda d: d),
        (b"binary", lambda d: d),
        (b"x-unheard-of", lambda d: d),
        (b"", lambda d: d),
    ],
    ids=["b64-no-padding", "b64-garbage", "b64-params", "qp", "8bit", "binary", "unknown", "empty"],
)
def test_transfer_encodings(encoding: bytes, encode: Callable[[bytes], bytes]) -> None:
    text = "秘书处：\r\n请查收我公司2026年度会费缴纳凭证。"
    data = encode(text.encode("utf-8"))
    raw = make_raw(body=data, encoding=b"8bit").replace(
        b"Content-Transfer-Encoding: 8bit", b"Content-Transfer-Encoding: " + encoding
    )
    assert parse(raw).text == text.replace("\r\n", "\n")


@pytest.mark.parametrize("newline", [b"\r\n", b"\n", b"\r"], ids=["crlf", "lf", "bare-cr"])
def test_line_endings(newline: bytes) -> None:
    pdf = attachment(content_type=b"application/pdf", disposition=b"attachment; " + rfc2231("filename", RECEIPT))
    raw = make_raw(body=BODY, encoding=b"8bit", attachments=[pdf]).replace(b"\r\n", b"\n").replace(b"\n", newline)
    mail = parse(raw)
    assert mail.subject == SUBJECT
    assert mail.text == BODY
    assert mail.attachments[0].filename == RECEIPT
    assert mail.attachments[0].data == PDF


def test_bom_and_blank_lines_before_the_headers() -> None:
    mail = parse(b"\xef\xbb\xbf\r\n" + make_raw())
    assert (mail.subject, mail.text) == (SUBJECT, BODY)


# --- golden files from the clients the liaisons use -------------------------------------------


def test_foxmail_gbk_report() -> None:
    mail = parse((FIXTURES / "foxmail_gbk_report.eml").read_bytes())
    assert mail.subject == SUBJECT
    assert mail.from_ == Address("王芳", "wangfang@hongda-machinery.cn")
    assert mail.to == (Address("秘书处", "mishuchu@chamber.example.org"),)
    assert mail.message_id == "202611240931071785412@hongda-machinery.cn"
    assert mail.date == datetime(2026, 11, 24, 1, 31, 7, tzinfo=UTC)
    assert mail.text == (
        "秘书处：\n\n我公司于11月20日参加2026中国机械工业博览会，现报送参展信息及现场照片，请审阅。\n"
        "联系人：王喆（总经理办公室）\n"
    )
    assert mail.html is not None and "王喆" in mail.html
    assert [(a.filename, a.content_type, a.inline) for a in mail.attachments] == [(PHOTO, "image/jpeg", False)]
    assert mail.attachments[0].data.startswith(b"\xff\xd8")
    assert mail.header("x-mailer") == "Foxmail 7.2.25.254[cn]"
    assert mail.defects == ()


def test_qq_mail_inline_image_and_split_attachment_name() -> None:
    mail = parse((FIXTURES / "qqmail_utf8_inline.eml").read_bytes())
    assert mail.subject == "【缴费】2026年度会费缴纳凭证"
    assert mail.from_ == Address("王芳", "123456789@qq.com")
    assert mail.cc == (Address("Li, Jianguo", "leader@hongda-machinery.cn"),)
    assert mail.text == "秘书处您好：\n附件为我公司2026年度会费缴纳凭证，现场照片见下图。\n\n王芳\n"
    assert mail.html is not None and 'src="cid:3F2A1C44@7A1B2C3D.4E0A6A65"' in mail.html
    assert [(a.filename, a.content_type, a.inline, a.content_id) for a in mail.attachments] == [
        ("现场照片1.jpg", "image/jpeg", True, "3F2A1C44@7A1B2C3D.4E0A6A65"),
        ("2026年度会费缴纳凭证（宏达机械有限公司）.pdf", "application/octet-stream", False, None),
    ]
    assert mail.attachments[1].data.startswith(b"%PDF-1.4")


def test_outlook_forward_with_rfc2231_name() -> None:
    mail = parse((FIXTURES / "outlook_gb2312_forward.eml").read_bytes())
    assert mail.subject == "转发: 参展确认函"
    assert mail.header("thread-topic") == "参展确认函"
    assert mail.in_reply_to == "expo-20261116-0042@cmif.example.org"
    assert mail.references == ("expo-20261115-0007@cmif.example.org", "expo-20261116-0042@cmif.example.org")
    assert mail.text == "秘书处：\n转发展会主办方的参展确认函，供备案。\n\n王芳\n"
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("参展确认函.eml", "message/rfc822"),
        (
            "2026中国机械工业博览会参展企业信息登记表.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ]
    forwarded = parse(mail.attachments[0].data)
    assert forwarded.subject == "参展确认函"
    assert forwarded.from_ == Address("中国机械工业联合会", "expo@cmif.example.org")
    assert forwarded.text == "贵公司展位号：3号馆A021。"
