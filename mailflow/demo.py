"""`mailflow demo`: a dozen realistic liaison emails in the local Maildir, one pass, and what became of each.

The mail is what a chamber's secretariat really receives: Chinese subjects and bodies in UTF-8
and GB18030, photos (drawn here with Pillow), one photo too small, a registration with its
certificate, a meeting reply, a dues receipt, a stranger's question, an out-of-office reply
and a bounce. A small roster of three member units is added so that the liaisons are known.
This module draws pictures, so it imports Pillow besides validate/, which reads them.
"""

from __future__ import annotations

import io
import mailbox
from dataclasses import dataclass
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from sqlmodel import Session, col, select

from mailflow.clock import Clock
from mailflow.store import InboundMessage, Liaison, Outbox, Store, Unit

DOMAIN = "demo.mailflow.invalid"  # every demo message's Message-ID ends here; nothing is sent there
SECRETARIAT = "mishuchu@chamber.example.org"


@dataclass(frozen=True)
class Member:
    unit: str
    code: str
    liaison: str
    email: str
    leader: str
    leader_email: str


MEMBERS = (
    Member(
        "成都宏达机械有限公司",
        "91510100MA61R8KX1H",  # 统一社会信用代码 (made up, with a valid check character)
        "王芳",
        "wangfang@hongda-machinery.cn",
        "李建国",
        "lijianguo@hongda-machinery.cn",
    ),
    Member(
        "四川锦程数控设备有限公司",
        "91510100MA62C3JQ2K",
        "刘洋",
        "liuyang@jincheng-cnc.cn",
        "陈志强",
        "chenzq@jincheng-cnc.cn",
    ),
    Member(
        "成都天府精工股份有限公司",
        "91510100MA68U5TP7H",
        "赵敏",
        "zhaomin@tianfu-precision.com",
        "周立新",
        "zhoulx@tianfu-precision.com",
    ),
)


def seed_roster(session: Session) -> None:
    """The three demo member units and their liaisons, unless they are there already."""
    known = set(session.exec(select(Unit.code)).all())
    for member in MEMBERS:
        if member.code in known:
            continue
        unit = Unit(name=member.unit, code=member.code, leader_name=member.leader, leader_email=member.leader_email)
        session.add(unit)
        session.flush()
        session.add(Liaison(unit_id=unit.id or 0, name=member.liaison, email=member.email))


def seeded(session: Session) -> bool:
    return (
        session.exec(select(InboundMessage.id).where(col(InboundMessage.message_id).like(f"%@{DOMAIN}"))).first()
        is not None
    )


def seed_maildir(folder: Path, clock: Clock) -> int:
    """Deliver the demo mail into the Maildir (as an MTA would, into new/); returns how many."""
    box = mailbox.Maildir(folder, create=True)
    mails = demo_mails(clock)
    for raw in mails:
        box.add(raw)
    return len(mails)


def demo_mails(clock: Clock) -> list[bytes]:
    wang, liu, zhao = MEMBERS
    date = format_datetime(clock.now())
    photo = _photo(1600, 1200, "展会现场")
    return [
        _mail(
            wang,
            "【报送】我公司参加2026中国国际机床展览会",
            "utf-8",
            "秘书处：\n\n11月18日至21日，我公司参加了2026中国国际机床展览会，展出五轴联动加工中心等新产品，"
            "现场签约意向订单3200万元。本稿已经公司总经理审阅同意，现报送相关信息及现场照片，请审阅。\n\n王芳\n成都宏达机械有限公司",
            [("展会现场.jpg", photo, "image/jpeg")],
            1,
            date,
        ),
        _mail(
            liu,
            "【技术】数控系统国产化改造取得突破",
            "gb18030",
            "秘书处：\n\n我公司联合高校完成数控系统国产化改造，关键部件自给率达到九成。附技术简介与照片。已经单位负责人审核。\n\n刘洋",
            [("技术简介.jpg", _photo(1920, 1080, "数控系统"), "image/jpeg")],
            2,
            date,
        ),
        _mail(
            zhao,
            "【报送】新产品下线仪式",
            "utf-8",
            "秘书处：\n\n我公司精密主轴新产品于本周下线，附仪式照片一张。\n\n赵敏",
            [("IMG_0012.jpg", _photo(640, 480, "下线仪式"), "image/jpeg")],
            3,
            date,
        ),
        _mail(
            wang,
            "【回执】2026年度联络员工作会议",
            "utf-8",
            "秘书处：\n\n我单位王芳将准时参加12月5日的联络员工作会议。\n\n王芳",
            [],
            4,
            date,
        ),
        _mail(
            liu,
            "【会费】2026年度会费汇款凭证",
            "gb18030",
            "秘书处：\n\n我单位已于11月20日汇出2026年度会费，附汇款凭证，请查收。\n\n刘洋",
            [("汇款凭证.png", _photo(1200, 900, "汇款凭证", "PNG"), "image/png")],
            5,
            date,
        ),
        _mail(
            zhao,
            "【诉求】关于园区用电保障的情况反映",
            "gb18030",
            "秘书处：\n\n入冬以来园区多次限电，影响订单交付，恳请商会协调有关部门。\n\n赵敏",
            [],
            6,
            date,
        ),
        _mail(
            Member("成都蓉城液压件厂", "", "孙伟", "sunwei@rongcheng-hydraulic.cn", "", ""),
            "【登记】成都蓉城液压件厂 孙伟",
            "utf-8",
            "秘书处：\n\n我单位申请加入商会，并指定孙伟为联络员，附单位有效证明（加盖公章）。\n\n"
            "单位名称：成都蓉城液压件厂\n统一社会信用代码：91510112MA6CRH4Y7R\n是否新会员：是\n"
            "联络员：孙伟；职务：综合办公室主任\n手机：13800000000\n"
            "单位负责人：刘强\n负责人邮箱：liuqiang@rongcheng-hydraulic.cn\n\n孙伟",
            [("单位有效证明.pdf", _pdf(), "application/pdf")],
            7,
            date,
        ),
        _mail(
            wang,
            "【建议】关于商会年度培训安排的几点建议",
            "utf-8",
            "秘书处：\n\n建议明年增加数字化转型专题培训，并安排一次企业互访。\n\n王芳",
            [],
            8,
            date,
        ),
        _mail(
            Member("", "", "张先生", "zhang.xiansheng@163.com", "", ""),
            "咨询入会事宜",
            "gb18030",
            "您好：\n\n请问贵商会入会需要哪些材料？谢谢。\n\n张先生",
            [],
            9,
            date,
        ),
        _mail(
            liu,
            "自动回复：【回执】2026年度联络员工作会议",
            "gb18030",
            "您好，我正在休假，11月30日返回，期间邮件将延迟回复。",
            [],
            10,
            date,
            headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
        ),
        _bounce(zhao, date),
        _mail(
            zhao,
            "Fwd: 关于举办智能制造现场交流会的通知",
            "utf-8",
            "转发：请秘书处看看这个活动是否适合商会组织会员参加。",
            [],
            12,
            date,
        ),
    ]


def report(store: Store, outbox_folder: Path) -> list[dict[str, Any]]:
    """One row per demo message: what it was understood as, where it ended, and its answer."""
    rows = []
    with store.session() as session:
        messages = session.exec(
            select(InboundMessage)
            .where(col(InboundMessage.message_id).like(f"%@{DOMAIN}"))
            .order_by(col(InboundMessage.id))
        ).all()
        for message in messages:
            reply = session.exec(select(Outbox).where(Outbox.inbound_id == message.id)).first()
            rows.append(
                {
                    "id": message.id,
                    "sender": message.sender or "",
                    "subject": message.subject or "",
                    "intent": "/".join(x for x in (message.intent, message.category) if x),
                    "state": message.state,
                    "reasons": [r.get("zh") or r.get("code") for r in message.reasons],
                    "reply": reply.kind if reply else "",
                    "reference": reply.reference if reply and reply.reference else "",
                    "eml": str(outbox_folder / f"{reply.message_id}.eml") if reply and reply.state == "sent" else "",
                }
            )
    return rows


# -- building the mail ------------------------------------------------------------------------


def _mail(
    who: Member,
    subject: str,
    charset: str,
    body: str,
    attachments: list[tuple[str, bytes, str]],
    n: int,
    date: str,
    headers: dict[str, str] | None = None,
) -> bytes:
    text = MIMEText(body, "plain", charset)
    msg: MIMEBase
    if attachments:
        msg = MIMEMultipart()
        msg.attach(text)
        for name, data, mime in attachments:
            maintype, subtype = mime.split("/", 1)
            part = MIMEImage(data, subtype) if maintype == "image" else MIMEApplication(data, subtype)
            part.add_header("Content-Disposition", "attachment", filename=(charset, "", name))
            msg.attach(part)
    else:
        msg = text
    msg["From"] = formataddr((str(Header(who.liaison, charset)), who.email))
    msg["To"] = SECRETARIAT
    msg["Subject"] = Header(subject, charset).encode()
    msg["Date"] = date
    msg["Message-ID"] = f"<demo-{n:02d}@{DOMAIN}>"
    for key, value in (headers or {}).items():
        msg[key] = value
    return msg.as_bytes()


def _bounce(who: Member, date: str) -> bytes:
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.tianfu-precision.com>
To: {SECRETARIAT}
Subject: Undelivered Mail Returned to Sender
Date: {date}
Message-ID: <demo-11@{DOMAIN}>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="DSN"

--DSN
Content-Type: text/plain

This is the mail system at host mx.tianfu-precision.com. Your message could not be delivered.

--DSN
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.tianfu-precision.com

Final-Recipient: rfc822; old-{who.email}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--DSN--
""".replace("\n", "\r\n").encode()


def _photo(width: int, height: int, caption: str, fmt: str = "JPEG") -> bytes:
    """A picture that looks like something: a sky, a hall, a machine, and its caption's length in bars."""
    image = Image.new("RGB", (width, height), (186, 208, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height * 2 // 3, width, height), fill=(120, 120, 128))
    w, h = width // 5, height // 4
    draw.rectangle((width // 2 - w, height // 2 - h, width // 2 + w, height * 2 // 3), fill=(40, 90, 160))
    for i, _ in enumerate(caption):
        x = width // 10 + i * width // 20
        draw.rectangle((x, height // 10, x + width // 40, height // 10 + height // 20), fill=(200, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _pdf() -> bytes:
    """A one-page PDF: what a scanned certificate arrives as."""
    buffer = io.BytesIO()
    Image.new("RGB", (1240, 1754), (255, 255, 255)).save(buffer, "PDF")
    return buffer.getvalue()
