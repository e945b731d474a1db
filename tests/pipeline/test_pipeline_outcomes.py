"""GIVEN a liaison's (or a stranger's) mail in the local Maildir WHEN one pass runs THEN it ends in the right state."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import LIAISON, add_liaison, deliver, make_app, make_jpeg, make_mail
from sqlmodel import select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.store import InboundMessage, StoredAttachment, Submission


def run_pass(app: App) -> None:
    report = Daemon(app).run_once()
    assert not report.errors


def messages(app: App) -> list[InboundMessage]:
    with app.store.session() as session:
        return list(session.exec(select(InboundMessage).order_by(InboundMessage.id)).all())


def only(app: App) -> InboundMessage:
    rows = messages(app)
    assert len(rows) == 1
    return rows[0]


def codes(row: InboundMessage) -> list[str]:
    return [r["code"] for r in row.reasons]


def test_submission_from_a_registered_liaison_is_processed_with_a_reference(app: App, tmp_path: Path) -> None:
    photo = make_jpeg(width=1600, height=1200)
    deliver(tmp_path / "Maildir", make_mail(attachments=[("展会现场照片.jpg", photo, "image/jpeg")]))
    run_pass(app)
    row = only(app)
    assert (row.state, row.intent, row.category, row.rule) == ("processed", "submission", "news", "submission-news")
    assert row.subject == "【报送】我公司参加2026中国机械工业博览会"
    assert row.sender == LIAISON and row.sender_role == "liaison" and row.unit_id is not None
    with app.store.session() as session:
        sub = session.exec(select(Submission)).one()
        att = session.exec(select(StoredAttachment)).one()
    assert sub.reference == "BS-2026-0001"
    assert sub.photo_count == 1
    assert (att.filename, att.width, att.height, att.detected_type) == ("展会现场照片.jpg", 1600, 1200, "jpeg")
    assert app.raw.path(row.sha256).read_bytes().startswith(b"Content-Type")


def test_small_photo_is_rejected_with_the_size_in_both_languages(app: App, tmp_path: Path) -> None:
    small = make_jpeg(width=640, height=480)
    deliver(tmp_path / "Maildir", make_mail(attachments=[("IMG_0012.jpg", small, "image/jpeg")]))
    run_pass(app)
    row = only(app)
    assert row.state == "rejected"
    assert row.reasons[0]["zh"] == "照片 IMG_0012.jpg 为 640×480，低于 800×600 的要求"
    assert row.reasons[0]["en"] == "photo IMG_0012.jpg is 640×480, below the required 800×600"


def test_unknown_sender_is_held_and_named(app: App, tmp_path: Path) -> None:
    deliver(tmp_path / "Maildir", make_mail(sender="stranger@example.net"))
    run_pass(app)
    row = only(app)
    assert (row.state, codes(row)) == ("held", ["unknown_sender"])
    assert "stranger@example.net" in row.reasons[0]["zh"]


def test_a_stranger_is_held_as_a_stranger_whatever_the_mail_says(app: App, tmp_path: Path) -> None:
    deliver(tmp_path / "Maildir", make_mail(sender="stranger@example.net", subject="你好"))
    run_pass(app)
    assert codes(only(app)) == ["unknown_sender"]


def test_registration_from_an_unknown_sender_is_accepted(app: App, tmp_path: Path) -> None:
    deliver(tmp_path / "Maildir", make_mail(sender="new@example.net", subject="【登记】联络员登记 - 新星机床厂"))
    run_pass(app)
    row = only(app)
    assert (row.state, row.intent) == ("processed", "registration")


def test_message_no_rule_claims_is_held_for_the_secretariat(app: App, tmp_path: Path) -> None:
    deliver(tmp_path / "Maildir", make_mail(subject="你好"))
    run_pass(app)
    assert codes(only(app)) == ["unknown_intent"]
    assert only(app).state == "held"


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X-Autoreply": "yes"},
        {"X-Auto-Response-Suppress": "All"},
        {"List-Id": "<news.example.org>"},
    ],
)
def test_auto_replies_are_ignored(app: App, tmp_path: Path, headers: dict[str, str]) -> None:
    deliver(tmp_path / "Maildir", make_mail(subject="自动回复: 【报送】", headers=headers))
    run_pass(app)
    row = only(app)
    assert (row.state, row.intent, codes(row)) == ("ignored", "auto_reply", ["auto_reply"])


def test_bounce_is_ignored(app: App, tmp_path: Path) -> None:
    raw = make_mail(sender="MAILER-DAEMON@mx.example.net", subject="Undelivered Mail Returned to Sender")
    deliver(tmp_path / "Maildir", raw)
    run_pass(app)
    row = only(app)
    assert (row.state, row.intent) == ("ignored", "bounce")


HOSTILE = {
    "empty": b"",
    "no From header": make_mail(sender=""),
    "8-bit garbage headers": b"From: \xff\xfe\x80 <\x81@\x82>\nSubject: \xc0\xc1\xf5\xff\nMessage-ID: <g@x>\n\nbody\n",
    "truncated MIME": make_mail(attachments=[("a.pdf", b"%PDF-1.4 " * 200, "application/pdf")])[:-400],
    "header without body": b"Subject: only a header",
    "binary noise": bytes(range(256)) * 40,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_ends_in_a_recorded_state_with_its_bytes_kept(app: App, tmp_path: Path, name: str) -> None:
    deliver(tmp_path / "Maildir", HOSTILE[name])
    run_pass(app)
    row = only(app)
    assert row.state in ("held", "rejected", "ignored", "processed")
    assert row.state == "processed" or row.reasons, "a message that was not processed says why"
    assert app.raw.path(row.sha256).read_bytes() == HOSTILE[name]


def test_forty_megabyte_attachment_is_held_with_its_size(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    add_liaison(app)
    raw = make_mail(attachments=[("大文件.pdf", b"%PDF-1.4\n" + b"0" * (40 * 1024 * 1024), "application/pdf")])
    deliver(tmp_path / "Maildir", raw)
    run_pass(app)
    row = only(app)
    assert (row.state, codes(row)) == ("held", ["too_large"])
    assert app.raw.path(row.sha256).stat().st_size == len(raw)
    app.close()


def test_reprocess_after_the_rules_change(app: App, tmp_path: Path) -> None:
    deliver(tmp_path / "Maildir", make_mail(subject="你好"))
    run_pass(app)
    row = only(app)
    assert row.state == "held"
    assert row.id is not None
    # The secretariat adds a rule; the held message is run again and now understood.
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "intents.yaml").write_text(
        "rules:\n  - name: greeting\n    intent: submission\n    when:\n      subject: 你好\n", encoding="utf-8"
    )
    from mailflow.classify import load_rules

    app.pipeline.rules = load_rules(rules)
    assert app.pipeline.reprocess(row.id) == "processed"
    assert only(app).rule == "greeting"


def test_an_error_in_one_message_undoes_only_that_message(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a workflow that fails half-way (a bug), WHEN a batch runs, THEN the failing message is
    failed with nothing it wrote kept, and the messages around it are processed normally."""
    from mailflow import workflows

    def broken(message, tx) -> None:  # type: ignore[no-untyped-def]
        workflows.submission.handle(message, tx)  # writes a Submission row ...
        raise RuntimeError("bug in the rsvp workflow")  # ... then fails

    monkeypatch.setitem(app.registry.handlers, "rsvp", broken)  # type: ignore[index]
    maildir = tmp_path / "Maildir"
    deliver(maildir, make_mail(subject="【报送】一", message_id="<1@x>"))
    deliver(maildir, make_mail(subject="【回执】参会", message_id="<2@x>"))
    deliver(maildir, make_mail(subject="【报送】三", message_id="<3@x>"))
    run_pass(app)
    by_subject = {r.subject: r for r in messages(app)}
    assert by_subject["【回执】参会"].state == "failed"
    assert "bug in the rsvp workflow" in by_subject["【回执】参会"].reasons[0]["en"]
    assert by_subject["【报送】一"].state == by_subject["【报送】三"].state == "processed"
    with app.store.session() as session:
        refs = sorted(s.reference for s in session.exec(select(Submission)).all())
        inbound = {s.inbound_id for s in session.exec(select(Submission)).all()}
    assert by_subject["【回执】参会"].id not in inbound
    assert refs == ["BS-2026-0001", "BS-2026-0002"], "the failed message's number is not lost"


def test_a_message_that_kills_the_process_fails_alone(app: App, tmp_path: Path) -> None:
    """GIVEN a batch that was claimed and never finished (the process died) WHEN the pipeline
    runs again THEN its messages are retried one by one, and only the one that keeps dying is failed."""
    maildir = tmp_path / "Maildir"
    for n in range(3):
        deliver(maildir, make_mail(subject=f"【报送】{n}", message_id=f"<k{n}@x>"))
    source, archiver = app.sources[0]
    archiver.poll(source)
    ids = [row.id for row in app.pipeline._claim()]  # the claim commits; then the process "dies"
    assert len(ids) == 3
    poison = ids[1]
    for _ in range(app.settings.limits.max_attempts):
        while True:  # each restart: claim alone, die on the poison message
            (claimed,) = [row.id for row in app.pipeline._claim()] or (None,)
            if claimed is None or claimed == poison:
                break
            app.pipeline.process(claimed)
    assert app.pipeline.run_pending() == 1, "the innocent message after the poison one is still done"
    states = {r.id: r.state for r in messages(app)}
    assert states[poison] == "failed"
    assert [states[i] for i in ids if i != poison] == ["processed", "processed"]
