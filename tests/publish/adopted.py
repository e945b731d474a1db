"""Adopted submissions to publish, made the way production makes them: real mail through the pipeline
(with JPEG and PNG photos drawn by Pillow, stored in data/attachments), then adopted by setting what
the screening command sets (state, outlets, decided_at)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import LIAISON, add_liaison, deliver, make_image, make_jpeg, make_mail, write_config
from sqlmodel import col, select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.store import BlobStore, InboundMessage, Liaison, StoredAttachment, Submission, SubmissionState, Unit

OTHER_LIAISON = "liming@jinniu-pump.cn"
LEADER = "leader@hongda-machinery.cn"  # the unit head of 宏达 (builders.add_liaison): not a liaison


@dataclass(frozen=True)
class Sent:
    sender: str
    name: str
    subject: str
    body: str
    photos: tuple[tuple[str, bytes, str], ...] = ()


def body(*paragraphs: str, sign: str = "王芳\n宏达机械有限公司") -> str:
    """A liaison's mail as written: greeting, the article, the review statement, a signature, a quoted mail."""
    return (
        "秘书处：\n\n" + "\n".join("\u3000\u3000" + p for p in paragraphs) + "\n\n已经单位负责人审核。\n"
        f"{sign}\n电话：028-12345678\n\n-----原始邮件-----\n发件人：秘书处\n主题：关于报送信息的通知\n> 请各单位报送\n"
    )


NEWS = Sent(
    LIAISON,
    "王芳",
    "【报送】我公司参加2026中国国际机床展览会",
    body(
        "11月20日至23日，我公司参加2026中国国际机床展览会，展出新型数控机床三台，现场签订意向合同五份。",
        "展会期间，多家客商前来洽谈，“智能制造”成为本届展会的热点。",
    ),
    (
        ("展会现场.jpg", make_jpeg(width=1600, height=1200), "image/jpeg"),
        ("签约仪式.jpg", make_image(width=1600, height=1200, exif_orientation=6), "image/jpeg"),
    ),
)
TECH = Sent(
    OTHER_LIAISON,
    "李明",
    "【技术】金牛泵业研制成功高效节能离心泵",
    body("我公司历时两年研制的高效节能离心泵通过省级鉴定，效率较上一代提高百分之八。", sign="李明\n金牛泵业有限公司"),
    (("样机.png", make_image(fmt="PNG", width=1000, height=800), "image/png"),),
)
FROM_LEADER = Sent(
    LEADER,
    "李建国",
    "【报送】宏达机械召开2026年安全生产大会",
    body("12月5日，我公司召开2026年安全生产大会，全体中层以上干部参加。", sign="李建国"),
)
HOSTILE = Sent(
    LIAISON,
    "王芳",
    "【报送】<script>alert('标题')</script>新品发布",
    body("正文里的<b>标签</b>与&符号原样显示。<img src=x onerror=alert(1)>"),
)


def send(app: App, sent: Sent, n: int) -> str:
    """Deliver `sent` and run the pipeline; the reference of the submission it made."""
    raw = make_mail(
        sender=sent.sender, sender_name=sent.name, subject=sent.subject, body=sent.body,
        attachments=list(sent.photos) or None, message_id=f"<sub-{n}@example.cn>",
    )  # fmt: skip
    deliver(app.settings.data_dir.parent / "Maildir", raw)
    Daemon(app).run_once()
    with app.store.session() as session:
        row = session.exec(select(Submission).order_by(col(Submission.id).desc())).first()
    assert row is not None and row.title and row.title in sent.subject, "the pipeline did not make the submission"
    return row.reference


def adopt(app: App, reference: str, outlets: str, decided_at: datetime, state: str = SubmissionState.ADOPTED) -> None:
    """What `#采用 BS-… 期刊|网站|全部` sets."""
    with app.store.session() as session:
        row = session.exec(select(Submission).where(Submission.reference == reference)).one()
        row.state, row.outlets, row.decided_at, row.decided_by = (
            state,
            outlets,
            decided_at,
            "mishuchu@chamber.example.org",
        )
        session.add(row)


@pytest.fixture
def published(app: App) -> dict[str, str]:
    """Five submissions by mail: three adopted for the journal in December 2026 (one not liaison-written),
    one for the site only in November, one rejected; name -> reference."""
    add_liaison(app, email=OTHER_LIAISON, unit="金牛泵业有限公司", code="JN002")
    refs = {name: send(app, sent, n) for n, (name, sent) in enumerate(
        [("news", NEWS), ("tech", TECH), ("leader", FROM_LEADER), ("hostile", HOSTILE), ("rejected", NEWS)]
    )}  # fmt: skip
    adopt(app, refs["news"], "all", datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
    adopt(app, refs["tech"], "journal", datetime(2026, 12, 10, 8, 0, tzinfo=UTC))
    adopt(app, refs["leader"], "all", datetime(2026, 12, 12, 1, 0, tzinfo=UTC))
    adopt(app, refs["hostile"], "site", datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    adopt(app, refs["rejected"], "all", datetime(2026, 12, 4, 1, 0, tzinfo=UTC), state=SubmissionState.REJECTED)
    return refs


def seed(app: App, count: int, *, start: datetime, outlets: str = "all", photos: int = 1) -> list[str]:
    """`count` adopted submissions written straight into the store (units, liaisons, mails, photo rows,
    JPEG blobs in data/attachments), one every hour from `start`; every third is not liaison-written.
    For sizes the pipeline would take long to make; the references, oldest first."""
    blobs = BlobStore(app.settings.data_dir / "attachments", fsync=False)
    digests = blobs.put_many([make_jpeg(width=1024 + n, height=768) for n in range(max(1, photos) * 3)])
    categories = ("news", "technology", "demand", "event")
    with app.store.session() as session:
        units = [
            Unit(name=f"成都第{n:03d}机械有限公司", code=f"S{start:%m%d}{n:04d}") for n in range(max(1, count // 5))
        ]
        session.add_all(units)
        session.flush()
        liaisons = [
            Liaison(unit_id=u.id or 0, name=f"联络员{n}", email=f"l{n}@s{start:%m%d}{n}.cn")
            for n, u in enumerate(units)
        ]
        mails = [
            InboundMessage(source="seed", folder="INBOX", uid=f"{start:%Y%m%d}-{n}", sha256="0" * 64)
            for n in range(count)
        ]
        session.add_all([*liaisons, *mails])
        session.flush()
        refs = []
        for n, mail in enumerate(mails):
            unit, liaison = units[n % len(units)], liaisons[n % len(units)]
            refs.append(f"BS-{start.year}-{start:%m%d}{n + 1:04d}")
            session.add(
                Submission(
                    reference=refs[-1], inbound_id=mail.id or 0, unit_id=unit.id, category=categories[n % 4],
                    liaison_id=None if n % 3 == 2 else liaison.id, title=f"【报送】第{n}条：我公司新产品下线",
                    text=f"秘书处：\n{unit.name}第{n}条信息，新型数控机床下线。\n联络员{n}", photo_count=photos,
                    state=SubmissionState.ADOPTED, outlets=outlets, decided_at=start + timedelta(hours=n),
                )
            )  # fmt: skip
            for k in range(photos):
                digest = digests[(n + k) % len(digests)]
                session.add(
                    StoredAttachment(
                        inbound_id=mail.id or 0, sha256=digest, filename=f"{k}.jpg", original_name=f"照片{k}.jpg",
                        declared_type="image/jpeg", detected_type="jpeg", size=60_000, width=1024 + (n + k) % len(digests), height=768,
                    )
                )  # fmt: skip
    return refs


CHAMBER = "成都市机械制造业商会"
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(app: App, tmp_path: Path) -> Cli:
    """cli(*args, env=None): `python -m mailflow ARGS --config …` on the `app` fixture's store, as a user runs it."""
    config = write_config(tmp_path, chamber={"name": CHAMBER})

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mailflow", *args, "--config", str(config)]
        return subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})})

    return run


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` (hidden ones too): (inode, mtime_ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }
