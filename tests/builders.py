"""Builders for test mail and test applications; keyword-only, so a test reads as what it sends."""

from __future__ import annotations

import io
from collections.abc import Callable
import mailbox
import struct
import zlib
from datetime import UTC, datetime
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from mailflow.app import App, build_app
from mailflow.clock import FixedClock
from mailflow.config import Settings, settings_from_mapping
from mailflow.store import Liaison, Unit
from mailflow.validate.attachments import AttachmentCheck
from mailflow.workflows.contract import Incoming
from mailflow.workflows.tx import Tx

REPO = Path(__file__).resolve().parents[1]
LIAISON = "wangfang@hongda-machinery.cn"
SECRETARIAT = "mishuchu@chamber.example.org"
# Our own receiving server, and its Authentication-Results for a secretariat mail it vouched for.
OUR_SERVER = "mx.chamber.example.org"
PASSED = f"{OUR_SERVER}; dkim=pass header.d=chamber.example.org; dmarc=pass header.from=chamber.example.org"


def make_image(
    *,
    fmt: str = "JPEG",
    width: int = 1024,
    height: int = 768,
    exif_orientation: int | None = None,
    progressive: bool = False,
    noise: bool = False,
    quality: int = 80,
) -> bytes:
    """A picture drawn with Pillow; `noise` makes it weigh what a real photo of its size weighs."""
    if noise:
        picture = Image.effect_noise((width, height), 60).convert("RGB")
    else:
        picture = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    exif = Image.Exif()
    if exif_orientation is not None:
        exif[0x0112] = exif_orientation
    options: dict[str, Any] = {"exif": exif.tobytes()}
    if fmt == "JPEG":
        options.update(progressive=progressive, quality=quality)
    picture.save(out, fmt, **options)
    return out.getvalue()


def make_jpeg(*, width: int = 1024, height: int = 768, **options: Any) -> bytes:
    return make_image(fmt="JPEG", width=width, height=height, **options)


def make_bomb_png(*, width: int, height: int) -> bytes:
    """A 1-bit PNG claiming width×height, with pixel data for one row: tiny on disk, huge decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    one_row = zlib.compress(b"\x00" * ((width + 7) // 8 + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", one_row) + chunk(b"IEND", b"")


def make_mail(
    *,
    sender: str = LIAISON,
    sender_name: str = "王芳",
    to: str = "mishuchu@chamber.example.org",
    subject: str = "【报送】我公司参加2026中国机械工业博览会",
    body: str = "秘书处:\n\n我公司于11月20日参加2026中国机械工业博览会,现报送相关信息及现场照片,请审阅。本稿已经单位负责人审核。\n\n王芳\n宏达机械有限公司",
    charset: str = "utf-8",
    attachments: list[tuple[str, bytes, str]] | None = None,
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
    date: datetime | None = None,
) -> bytes:
    """A liaison's mail as a Chinese client writes it; attachments are (filename, data, mime type)."""
    text = MIMEText(body, "plain", charset)
    if attachments:
        msg: Any = MIMEMultipart()
        msg.attach(text)
        for name, data, mime in attachments:
            maintype, subtype = mime.split("/", 1)
            part = MIMEImage(data, subtype) if maintype == "image" else MIMEApplication(data, subtype)
            part.add_header("Content-Disposition", "attachment", filename=(charset, "", name))
            msg.attach(part)
    else:
        msg = text
    msg["From"] = formataddr((str(Header(sender_name, charset)), sender)) if sender else None
    if not sender:
        del msg["From"]
    msg["To"] = to
    msg["Subject"] = Header(subject, charset)
    msg["Date"] = format_datetime(date or datetime(2026, 11, 24, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="hongda-machinery.cn")
    for key, value in (headers or {}).items():
        msg[key] = value
    return msg.as_bytes()


def base_config(tmp: Path, *, sources: list[dict[str, Any]] | None = None, **sections: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "chamber": {"secretariat": [SECRETARIAT], "message_id_domain": "mailflow.chamber.example.org"},
        "paths": {"data": str(tmp / "data"), "rules": str(REPO / "rules"), "templates": str(REPO / "templates")},
        "database": {"url": f"sqlite:///{tmp / 'mailflow.db'}"},
        "sources": sources
        if sources is not None
        else [{"name": "local", "kind": "maildir", "path": str(tmp / "Maildir"), "start_from": "all"}],
        "daemon": {"fsync": False},
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value}
    return config


def make_settings(tmp: Path, **kwargs: Any) -> Settings:
    return settings_from_mapping(base_config(tmp, **kwargs), base_dir=tmp)


def write_config(tmp: Path, **kwargs: Any) -> Path:
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(base_config(tmp, **kwargs), allow_unicode=True), encoding="utf-8")
    return path


def make_app(tmp: Path, *, clock: FixedClock | None = None, **kwargs: Any) -> App:
    return build_app(make_settings(tmp, **kwargs), clock=clock or FixedClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)))


def add_liaison(app: App, *, email: str = LIAISON, unit: str = "宏达机械有限公司", code: str = "HD001") -> None:
    with app.store.session() as session:
        row = Unit(name=unit, code=code, leader_name="李建国", leader_email=f"leader@{email.split('@')[1]}")
        session.add(row)
        session.flush()
        session.add(Liaison(unit_id=row.id or 0, name="王芳", email=email))


def deliver(maildir: Path, raw: bytes) -> str:
    """Deliver into a Maildir the way an MTA does (into new/)."""
    return mailbox.Maildir(maildir, create=True).add(raw)


# What a workflow handler is called with (tests/workflows/conftest.py: the handler_call fixture).
HandlerCall = Callable[..., tuple[Incoming, Tx]]


def photo(name: str = "现场.jpg", *, inline: bool = False) -> AttachmentCheck:
    """An attachment as the validate step reports a good photo."""
    return AttachmentCheck(name, name, "jpeg", "jpeg", 200_000, 1600, 1200, is_photo=True, inline=inline)
