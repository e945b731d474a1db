"""What the digest says: every kind of item with its reference and the command that settles it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from builders import add_liaison, make_app
from sqlmodel import Session, select

from mailflow.app import App
from mailflow.clock import FixedClock
from mailflow.outbound.outbox import Draft, queue
from mailflow.outbound.render import Rendered
from mailflow.store import (
    AddressFlag,
    InboundMessage,
    InboundState,
    Outbox,
    OutboxState,
    Registration,
    Submission,
)

BEFORE = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 07:00 in Shanghai
AFTER = datetime(2026, 11, 24, 0, 31, tzinfo=UTC)  # 08:31


def letter(app: App, n: int, state: str, error: str) -> None:
    with app.store.session() as session:
        row = queue(
            session,
            Draft(
                key=f"reply:{n}",
                kind="ack_submission",
                recipients=[f"liaison{n}@unit.example.cn"],
                rendered=Rendered(f"【已收到】BS-2026-000{n} 展会信息", "正文", "<p>正文</p>"),
            ),
            now=BEFORE,
            message_id_domain="mailflow.test",
        )
        row.state, row.last_error = state, error


def inbound(session: Session, n: int) -> int:
    row = InboundMessage(source="local", folder="INBOX", uid=str(n), sha256=f"{n:064d}", state=InboundState.PROCESSED)
    session.add(row)
    session.flush()
    return row.id or 0


def seeded(tmp_path: Path, **chamber: object) -> App:
    app = make_app(
        tmp_path, clock=FixedClock(BEFORE), chamber={"secretariat": ["mishuchu@chamber.example.org"], **chamber}
    )
    add_liaison(app)
    app.scheduler.run_due()  # the first start, before the 08:30 slot
    assert isinstance(app.clock, FixedClock)
    app.clock.set(AFTER)
    with app.store.session() as session:
        session.add(
            Registration(
                reference="DJ-2026-0007",
                inbound_id=inbound(session, 1),
                email="liming@example.cn",
                name="李明",
                created_at=BEFORE,
            )
        )
        session.add(
            Submission(
                reference="BS-2026-0042",
                inbound_id=inbound(session, 2),
                unit_id=1,
                title="参加机床展",
                created_at=BEFORE,
            )
        )
        session.add(
            AddressFlag(email="liaison3@unit.example.cn", reason="5.2.2 mailbox full", bounces=2, last_at=BEFORE)
        )
    letter(app, 1, OutboxState.DEAD, "550 5.1.1 no such user")
    letter(app, 2, OutboxState.AMBIGUOUS, "no reply after the final dot")
    letter(app, 3, OutboxState.BOUNCED, "5.2.2 mailbox full")
    letter(app, 4, OutboxState.RETRY, "451 try later")
    return app


def the_digest(app: App) -> Outbox:
    with app.store.session() as session:
        (digest,) = session.exec(select(Outbox).where(Outbox.kind == "digest")).all()
        return digest


def test_the_digest_lists_each_item_with_its_command(tmp_path: Path) -> None:
    app = seeded(tmp_path)
    assert app.scheduler.run_due() == ["digest"]
    digest = the_digest(app)
    assert digest.subject == "【每日摘要】2026年11月24日 待处理事项 7 项"
    text = digest.text
    assert "| DJ-2026-0007 | 联络员登记 李明 liming@example.cn | #批准 DJ-2026-0007 |" in text
    # A submission waits for screening: listed with the line that adopts it (not from a liaison: said so).
    assert "| BS-2026-0042 | 宏达机械有限公司 参加机床展（非联络员报送） | #采用 BS-2026-0042 全部 |" in text
    # What needs a decision comes first, in the workflows' order, then what falls due.
    assert (
        text.index("联络员登记与变更待审核")
        < text.index("待筛选的报送信息")
        < text.index("未能送达的邮件")
        < text.index("近期到期事项")
    )
    assert (
        "| #1 | liaison1@unit.example.cn《【已收到】BS-2026-0001 展会信息》 发送失败：550 5.1.1 no such user | #重发 1 |"
        in text
    )
    assert "送达情况不明：no reply after the final dot | #重发 2 |" in text
    assert "被退回：5.2.2 mailbox full | #重发 3 |" in text
    assert "| liaison3@unit.example.cn | 5.2.2 mailbox full ×2 | #更正邮箱 liaison3@unit.example.cn 新邮箱 |" in text
    assert "近期到期事项（1 项）" in text and "重试：liaison4@unit.example.cn" in text
    assert "<th" in digest.html and "<td style" in digest.html and "#重发 1</td>" in digest.html
    app.close()


def test_the_digest_in_english(tmp_path: Path) -> None:
    app = seeded(tmp_path, locale="en")
    app.scheduler.run_due()
    digest = the_digest(app)
    assert digest.subject == "Daily digest 2026-11-24: 7 item(s) to settle"
    assert (
        "| BS-2026-0042 | 宏达机械有限公司 参加机床展 (not from a liaison) | #adopt BS-2026-0042 all |" in digest.text
    )
    assert (
        "| #1 | liaison1@unit.example.cn “【已收到】BS-2026-0001 展会信息” failed: 550 5.1.1 no such user | #resend 1 |"
        in digest.text
    )
    app.close()


def test_a_cell_never_splits_the_table(tmp_path: Path) -> None:
    app = seeded(tmp_path)
    with app.store.session() as session:
        session.add(
            Registration(
                reference="DJ-2026-0008",
                inbound_id=inbound(session, 3),
                email="a@b.cn",
                name="王|五\n<b>",
                created_at=BEFORE,
            )
        )
    app.scheduler.run_due()
    digest = the_digest(app)
    assert "| DJ-2026-0008 | 联络员登记 王｜五 <b> a@b.cn | #批准 DJ-2026-0008 |" in digest.text
    assert "王｜五 &lt;b&gt;" in digest.html
    app.close()


def test_the_digest_lists_a_letter_held_back_by_the_hourly_cap_with_when_it_goes(tmp_path: Path) -> None:
    """GIVEN an acknowledgement waiting for the hourly cap to free, WHEN the digest is made, THEN
    its outgoing-mail section shows when it goes and why it waits."""
    app = seeded(tmp_path)
    with app.store.session() as session:
        row = queue(
            session,
            Draft(
                key="reply:9",
                kind="ack_submission",
                recipients=["liaison9@unit.example.cn"],
                rendered=Rendered("【已收到】BS-2026-0009 展会信息", "正文", "<p>正文</p>"),
                not_before=datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
                notice="held back: 5 automatic replies to this address in the last hour; goes at 09:00",
            ),
            now=AFTER,
            message_id_domain="mailflow.test",
        )
        session.flush()
        held = row.id
    app.scheduler.run_due()
    text = the_digest(app).text
    assert (
        f"| #{held} | 2026年11月24日 09:00 延后发送：liaison9@unit.example.cn《【已收到】BS-2026-0009 展会信息》 "
        f"held back: 5 automatic replies to this address in the last hour; goes at 09:00 | #重发 {held} |"
    ) in text
    app.close()
