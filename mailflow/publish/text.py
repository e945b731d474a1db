"""A submission's mail text as a journal prints it: paragraphs, without the mail around the article.

A liaison writes the article into a mail: a greeting to the secretariat above it, the sign-off,
name, unit, phone and the review statement below it, and, on a revision, the quoted earlier mail.
None of that is the article. What is cut (and nothing else, so an article is never shortened):
- everything from a quoted-reply header on (-----原始邮件-----, 在…写道：, On … wrote:, a
  Foxmail/Outlook header block starting 发件人：/From:) or a signature delimiter line ("-- ");
- lines quoted with ">";
- a short first line that addresses someone (秘书处：, 尊敬的秘书处领导：);
- at the end, short lines that are a sign-off (此致 敬礼, 谢谢), the liaison's or unit's name or
  any name alone on its line (two to four characters, no punctuation), a date, a phone or mail
  line, or the unit head's review statement (已经单位负责人审核);
- anywhere, a sentence written to the secretariat: the review statement, "现报送…", "请审阅".
Each remaining non-empty line is a paragraph (Chinese mail writes one paragraph per line); the
indent people type (two ideographic spaces) is taken off, since the layout indents every paragraph.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_CUT = re.compile(
    r"^\s*(-{2,}\s*(原始邮件|原始郵件|Original Message|Forwarded message|转发邮件|轉發郵件)"
    r"|在.{0,120}写道\s*[:：]\s*$|On .{0,200} wrote:\s*$|(发件人|發件人|From)\s*[:：]|--\s*$)",
    re.IGNORECASE,
)
_GREETING = re.compile(r"^[^，。,.!！?？]{1,16}[:：]\s*$")
_SIGN_OFF = re.compile(
    r"^(此致|敬礼|敬禮|谢谢|謝謝|谢谢！|顺祝.*|祝好.*|best regards.*|regards.*|thanks.*)[!！。,，\s]*$", re.IGNORECASE
)
_DATE = re.compile(r"^\s*(\d{4}\s*[年./-]\s*\d{1,2}\s*[月./-]\s*\d{1,2}\s*日?|\d{1,2}\s*月\s*\d{1,2}\s*日)\s*$")
_CONTACT = re.compile(
    r"^(电话|電話|手机|手機|联系电话|联系人|tel|phone|mobile|邮箱|e-?mail|地址)\s*[:：]?", re.IGNORECASE
)
_REVIEW = re.compile(r"(单位|公司)?(主要)?(负责人|领导|總經理|总经理).{0,6}(审核|审阅|审定|审批|同意)")
# A sentence addressed to the secretariat inside the article: "现报送相关信息及现场照片，请审阅。"
_NOTE = re.compile(
    r"请(?:秘书处)?(?:予以)?(?:审阅|审核|查收|收阅|指正|斧正|编辑|采用|刊登|刊发)|(?:现|特)(?:将|把)?.{0,16}(?:报送|报上|呈报)"
)
_SENTENCE = re.compile(r"[^。！？!?]*(?:[。！？!?]+|$)")
_NAME = re.compile(r"^[\u4e00-\u9fff·]{2,4}$")  # a line of two to four characters alone: a signed name
_TAIL_LINE = 30  # a sign-off line is short; a longer line at the end is the article's own


def paragraphs(text: str, *, names: Iterable[str] = ()) -> list[str]:
    """The article's paragraphs; `names` (the liaison's, the unit's) are dropped when alone on a closing line."""
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _CUT.match(line):
            break
        if not line.lstrip().startswith((">", "＞")):
            lines.append(line.strip(" \t\u3000\u00a0"))
    body = [line for line in lines if line]
    if len(body) > 1 and _GREETING.match(body[0]):
        body = body[1:]
    closing = {n.strip() for n in names if n and n.strip()}
    while body and _closing_line(body[-1], closing):
        body.pop()
    kept = [_without_notes(line) for line in body]
    return [line for line in kept if line]


def _without_notes(line: str) -> str:
    """The paragraph without the sentences written to the secretariat rather than to readers: the
    unit head's review, "请审阅", "现报送…". A paragraph of nothing else is gone."""
    sentences = [s for s in _SENTENCE.findall(line) if s]
    kept = [s for s in sentences if not (_REVIEW.search(s) or _NOTE.search(s))]
    return "".join(kept).strip() if len(kept) != len(sentences) else line


def _closing_line(line: str, names: set[str]) -> bool:
    if len(line) > _TAIL_LINE:
        return False
    bare = line.strip("（）() ")
    return (
        bare in names
        or bool(_NAME.match(bare))
        or any(bare.startswith(name) and len(bare) - len(name) <= 8 for name in names)
        or bool(_SIGN_OFF.match(line) or _DATE.match(line) or _CONTACT.match(line) or _REVIEW.search(line))
    )


def summary(text: str, *, names: Iterable[str] = (), limit: int = 120) -> str:
    """The first paragraph, cut at `limit` characters: the index's and the feed's teaser."""
    first = next(iter(paragraphs(text, names=names)), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|回复|答复|转发|回覆|轉發)\s*[:：]\s*|[【\[［][^】\]］]{1,12}[】\]］]\s*|BS-\d{4}-\d+\s*[:：]?\s*)",
    re.IGNORECASE,
)


def headline(subject: str) -> str:
    """The article's title from the mail's subject: without Re:/转发:, the tag (【报送】, [技术]) or our reference."""
    title = subject.strip()
    while (cut := _PREFIX.sub("", title, count=1)) != title:
        title = cut
    return title.strip() or subject.strip()
