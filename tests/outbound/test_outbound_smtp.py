"""SMTP delivery against a real aiosmtpd on 127.0.0.1: what arrives, and what the outbox records when
the server says 451, 550, or drops the connection before or after the final dot."""

from __future__ import annotations

import email
import ssl
import time
from collections.abc import Callable, Iterator
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from returns import returns_within
from servers.smtp import DropsAtData, Recorder, free_port, start_smtp_server
from servers.tls import make_certificate

from mailflow.clock import FixedClock
from mailflow.outbound.dispatch import Dispatcher
from mailflow.outbound.outbox import Draft, queue
from mailflow.outbound.render import Rendered
from mailflow.outbound.smtp import SmtpTransport
from mailflow.store import Outbox, OutboxState, Store


def queued(
    store: Store, clock: FixedClock, to: str = "wangfang@hongda-machinery.cn", *, also: tuple[str, ...] = ()
) -> int:
    rendered = Rendered(
        "【已收到】BS-2026-0042 展会信息", "王芳：\n\n您好！登记编号为 BS-2026-0042。\n", "<p>王芳：</p>"
    )
    with store.session() as session:
        row = queue(
            session,
            Draft(
                key=f"ack:{to}:{clock.now().isoformat()}:{','.join(also)}",
                kind="ack_submission",
                recipients=[to, *also],
                rendered=rendered,
                in_reply_to="orig@hongda.cn",
            ),
            now=clock.now(),
            message_id_domain="mailflow.test",
        )
        session.flush()
        return row.id or 0


def dispatch(
    store: Store,
    clock: FixedClock,
    port: int,
    security: str = "none",
    ca_file: str | None = None,
    concurrency: int = 1,
) -> Dispatcher:
    transport = SmtpTransport(
        "127.0.0.1", port, security=security, timeout=5, data_timeout=5, ca_file=ca_file, concurrency=concurrency
    )
    dispatcher = Dispatcher(store, transport, clock, sender="mishuchu@chamber.example.org", sender_name="商会秘书处")
    dispatcher.run()
    dispatcher.close()
    return dispatcher


def row(store: Store, row_id: int) -> Outbox:
    with store.session() as session:
        found = session.get(Outbox, row_id)
        assert found is not None
        return found


def test_delivered_with_a_readable_chinese_subject_and_threading(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock
) -> None:
    recorder, port = smtp_server
    row_id = queued(store, clock)
    dispatch(store, clock, port)
    (raw,) = recorder.received
    msg = email.message_from_bytes(raw, policy=default)
    assert msg["Subject"] == "【已收到】BS-2026-0042 展会信息" and msg["In-Reply-To"] == "<orig@hongda.cn>"
    assert msg.get_body(("plain",)).get_content().startswith("王芳：")
    assert row(store, row_id).state == OutboxState.SENT


def test_451_then_250_is_delivered_once(smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock) -> None:
    recorder, port = smtp_server
    recorder.replies = ["451 4.3.0 try again later"]
    row_id = queued(store, clock)
    dispatch(store, clock, port)
    assert (row(store, row_id).state, recorder.received) == (OutboxState.RETRY, [])
    clock.advance(minutes=5)
    dispatch(store, clock, port)
    assert row(store, row_id).state == OutboxState.SENT and len(recorder.received) == 1


def test_550_is_dead_with_the_servers_reason(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock
) -> None:
    _, port = smtp_server
    row_id = queued(store, clock, to="nobody@hongda-machinery.cn")
    dispatch(store, clock, port)
    dead = row(store, row_id)
    assert dead.state == OutboxState.DEAD and dead.last_error == "550 5.1.1 no such user"


def test_a_drop_before_the_final_dot_is_retried_and_delivered_once(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock
) -> None:
    recorder, port = smtp_server
    DropsAtData.drops = 1
    row_id = queued(store, clock)
    dispatch(store, clock, port)
    assert row(store, row_id).state == OutboxState.RETRY and recorder.received == []
    clock.advance(minutes=5)
    dispatch(store, clock, port)
    assert row(store, row_id).state == OutboxState.SENT and len(recorder.received) == 1


def test_a_drop_after_the_final_dot_is_ambiguous_and_not_resent(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock
) -> None:
    recorder, port = smtp_server
    recorder.drop_after_dot = True
    row_id = queued(store, clock)
    dispatcher = dispatch(store, clock, port)
    assert row(store, row_id).state == OutboxState.AMBIGUOUS
    clock.advance(days=1)
    dispatch(store, clock, port)
    assert len(recorder.received) == 1, "the server had it: sending again would be a duplicate"
    assert dispatcher.retry(row_id) == OutboxState.QUEUED  # only a person's word sends it again
    dispatch(store, clock, port)
    assert len(recorder.received) == 2 and row(store, row_id).state == OutboxState.SENT


def test_a_server_that_is_down_is_a_temporary_failure(store: Store, clock: FixedClock) -> None:
    row_id = queued(store, clock)
    dispatch(store, clock, free_port())  # nothing listens there
    assert row(store, row_id).state == OutboxState.RETRY and "cannot connect" in (row(store, row_id).last_error or "")


def test_letters_go_out_over_as_many_connections_as_configured(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock
) -> None:
    recorder, port = smtp_server
    ids = [queued(store, clock, to=f"liaison{n}@unit.example.cn") for n in range(12)]
    transport = SmtpTransport("127.0.0.1", port, security="none", timeout=5, data_timeout=5, concurrency=3)
    dispatcher = Dispatcher(store, transport, clock, sender="mishuchu@chamber.example.org", sender_name="商会秘书处")
    assert dispatcher.run() == 12
    dispatcher.close()
    assert len(recorder.received) == 12 and recorder.peak == 3
    assert {row(store, i).state for i in ids} == {OutboxState.SENT}


def eventually(condition: Callable[[], bool], seconds: float = 5) -> bool:
    """Whether `condition` holds within `seconds` (the server's side of a close lags the client's)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_connection_idle_for_a_minute_is_closed_with_quit(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock
) -> None:
    """GIVEN a letter delivered and its connection kept for the next one, WHEN the dispatcher looks
    in again after a minute without a letter (it does at least every 30 s), THEN it says QUIT
    before the server times the connection out (Postfix after 300 s, logging each one); the
    next letter goes on a new connection."""
    recorder, port = smtp_server
    seconds = [0.0]  # the transport's clock, moved by hand
    transport = SmtpTransport("127.0.0.1", port, security="none", timeout=5, clock=lambda: seconds[0])
    dispatcher = Dispatcher(store, transport, clock, sender="mishuchu@chamber.example.org", sender_name="商会秘书处")
    try:
        queued(store, clock)
        assert dispatcher.run() == 1
        opened = recorder.connections

        seconds[0] += 59
        dispatcher.run()
        assert (recorder.quits, recorder.open) == (0, 1), "a connection idle for less than a minute is kept"

        seconds[0] += 2
        dispatcher.run()
        assert recorder.quits == 1, "QUIT reached the server"
        assert eventually(lambda: recorder.open == 0), "and the connection is closed"

        clock.advance(seconds=1)
        queued(store, clock)
        assert dispatcher.run() == 1
        assert (len(recorder.received), recorder.connections) == (2, opened + 1)
    finally:
        dispatcher.close()


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_delivers_over_tls_and_starttls_verifying_the_certificate(
    tmp_path: Path, store: Store, clock: FixedClock, security: str
) -> None:
    """GIVEN a server with a private certificate WHEN the transport trusts it THEN the letter goes
    over TLS (the dispatcher's event loop, uvloop where installed, does the handshake); without it
    the certificate is refused, nothing is sent, and the letter waits for a retry."""
    make_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    recorder = Recorder()
    if security == "tls":
        controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), ssl_context=context)
    else:
        controller = Controller(
            recorder, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True
        )
    controller.start()
    try:
        row_id = queued(store, clock)
        dispatch(store, clock, controller.port, security)
        assert (row(store, row_id).state, recorder.received) == (OutboxState.RETRY, [])
        assert "certificate" in (row(store, row_id).last_error or "")
        clock.advance(minutes=5)
        dispatch(store, clock, controller.port, security, ca_file=str(tmp_path / "cert.pem"))
        assert row(store, row_id).state == OutboxState.SENT and len(recorder.received) == 1
    finally:
        controller.stop()


@pytest.fixture(params=[True, False], ids=["smtputf8", "ascii-only"])
def either_server(request: pytest.FixtureRequest) -> Iterator[tuple[Recorder, int, bool]]:
    """A server that offers SMTPUTF8, and one that does not (aiosmtpd's default)."""
    recorder = Recorder()
    controller = start_smtp_server(recorder, smtputf8=request.param)
    try:
        yield recorder, controller.port, request.param
    finally:
        controller.stop()


WIDE = ["张三@例子.中国", "jdöe@mächine.example"]  # local parts beyond ASCII: only SMTPUTF8 carries them


def test_a_batch_with_non_ascii_recipients_delivers_every_other_letter_once(
    either_server: tuple[Recorder, int, bool], store: Store, clock: FixedClock
) -> None:
    """GIVEN one connection and a batch where 张三@例子.中国 and jdöe@mächine.example sit among ASCII
    recipients (one of them at an internationalised domain), WHEN the batch is sent, THEN the run
    returns, every ASCII letter is delivered once, wangfang@例子.中国 goes to its IDNA name without
    SMTPUTF8, and the two others go with SMTPUTF8 on MAIL FROM when the server offers it, or are
    dead with the reason when it does not."""
    recorder, port, smtputf8 = either_server
    ascii_ids = [queued(store, clock, to=f"liaison{n}@unit.example.cn") for n in range(2)]
    wide_ids = [queued(store, clock, to=to) for to in WIDE]
    idn_id = queued(store, clock, to="wangfang@例子.中国")
    ascii_ids.append(queued(store, clock, to="liaison9@unit.example.cn"))

    returns_within(30, lambda: dispatch(store, clock, port))

    assert [row(store, i).state for i in [*ascii_ids, idn_id]] == [OutboxState.SENT] * 4
    utf8_by_recipient = {to: utf8 for _, utf8, (to,) in recorder.envelopes}
    assert len(recorder.envelopes) == len(utf8_by_recipient), "each letter delivered once"
    assert utf8_by_recipient["wangfang@xn--fsqu00a.xn--fiqs8s"] is False
    if smtputf8:
        assert [row(store, i).state for i in wide_ids] == [OutboxState.SENT] * 2
        assert [utf8_by_recipient[to] for to in WIDE] == [True, True]
        assert all(any(f"To: {to}\r\n".encode() in raw for raw in recorder.received) for to in WIDE)
        assert len(recorder.envelopes) == 6
    else:
        assert [(row(store, i).state, row(store, i).last_error) for i in wide_ids] == [
            (OutboxState.DEAD, f"the server does not offer SMTPUTF8, needed for {to}") for to in WIDE
        ]
        assert len(recorder.envelopes) == 4


@pytest.mark.parametrize("refused", ["nobody@hongda-machinery.cn", "nobody.张三@例子.中国"])
def test_a_recipient_refused_at_rcpt_leaves_the_connection_ready_for_the_next_letter(
    store: Store, clock: FixedClock, refused: str
) -> None:
    """GIVEN one connection, WHEN the server answers 550 to RCPT TO (for an ASCII address, or one that
    needs SMTPUTF8), THEN that letter is dead with the server's reason and the next letter is
    delivered on the same connection (the refused envelope was reset, not left open under it)."""
    recorder = Recorder()
    controller = start_smtp_server(recorder, smtputf8=True)
    started = recorder.connections  # aiosmtpd's own probe at start
    try:
        refused_id = queued(store, clock, to=refused)
        next_id = queued(store, clock, to="wangfang@hongda-machinery.cn")
        returns_within(30, lambda: dispatch(store, clock, controller.port))
        assert (row(store, refused_id).state, row(store, refused_id).last_error) == (
            OutboxState.DEAD,
            "550 5.1.1 no such user",
        )
        assert row(store, next_id).state == OutboxState.SENT and len(recorder.received) == 1
        assert recorder.connections == started + 1
    finally:
        controller.stop()


def test_a_recipient_refused_for_good_at_rcpt_is_not_mailed_again(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock
) -> None:
    """GIVEN a recipient the server refused at RCPT TO with 550 5.1.1, WHEN a later letter to that
    address falls due, THEN it is dead with the date and the server's reason, the server is not
    asked again, and letters to other addresses go."""
    recorder, port = smtp_server
    queued(store, clock, to="nobody@hongda-machinery.cn")
    dispatch(store, clock, port)
    clock.advance(hours=2)
    later = queued(store, clock, to="Nobody@hongda-machinery.cn")
    other = queued(store, clock)
    dispatch(store, clock, port)
    assert (row(store, later).state, row(store, later).last_error) == (
        OutboxState.DEAD,
        "address bounced on 2026-11-24 01:30 UTC: 550 5.1.1 no such user; correct it or wait for mail from it",
    )
    assert recorder.asked == ["nobody@hongda-machinery.cn", "wangfang@hongda-machinery.cn"]
    assert row(store, other).state == OutboxState.SENT


def test_a_letter_to_several_goes_to_those_still_mailed_and_says_whom_it_left_out(
    smtp_server: tuple[Recorder, int], store: Store, clock: FixedClock
) -> None:
    """GIVEN an address refused for good earlier, WHEN a letter to it and to another address falls
    due (the digest to the secretariat), THEN it goes to the other one, and the letter says whom
    it was not sent to and why."""
    recorder, port = smtp_server
    queued(store, clock, to="nobody@chamber.example.org")
    dispatch(store, clock, port)
    both = queued(store, clock, to="mishuchu@chamber.example.org", also=("nobody@chamber.example.org",))
    dispatch(store, clock, port)
    sent = row(store, both)
    assert sent.state == OutboxState.SENT and recorder.envelopes[-1][2] == ("mishuchu@chamber.example.org",)
    assert sent.last_error == (
        "not sent to nobody@chamber.example.org: address bounced on 2026-11-24 01:30 UTC: "
        "550 5.1.1 no such user; correct it or wait for mail from it"
    )
