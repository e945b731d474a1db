"""parse() refuses oversized or pathological mail with a reason, and never raises anything but ParseError."""

from __future__ import annotations

import base64
import random
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from mailflow.errors import ParseError, ParseTimeout
from mailflow.parse import ParsedMail, ParseLimits, parse
from mailflow.parse.limits import deadline, multipart_depth, precheck

NL = b"\r\n"
HEAD = NL.join([b"From: wangfang@hongda-machinery.cn", b"To: mishuchu@chamber.example.org", b"Subject: test"]) + NL


def many_parts(count: int, *, with_content_type: bool = True) -> bytes:
    part_head = b"Content-Type: text/plain; charset=utf-8" + NL if with_content_type else b""
    parts = b"".join(b"--b" + NL + part_head + NL + b"part %d" % i + NL for i in range(count))
    return HEAD + b"Content-Type: multipart/mixed; boundary=b" + NL + NL + parts + b"--b--" + NL


def nested(depth: int) -> bytes:
    body = b"Content-Type: text/plain" + NL + NL + b"innermost" + NL
    for level in range(depth):
        boundary = b"level%d" % level
        head = b"Content-Type: multipart/mixed; boundary=" + boundary + NL + NL
        body = head + b"--" + boundary + NL + body + b"--" + boundary + b"--" + NL
    return HEAD + body


def forwarded(times: int) -> bytes:
    raw = HEAD + b"Content-Type: text/plain; charset=utf-8" + NL + NL + "原始邮件".encode() + NL
    for hop in range(times):
        lines = [
            HEAD.replace(b"Subject: test", b"Subject: Fwd %d" % hop) + b"Content-Type: multipart/mixed; boundary=fwd",
            b"",
            b"--fwd",
            b"Content-Type: text/plain",
            b"",
            b"see attached",
            b"--fwd",
            b"Content-Type: message/rfc822",
            b"",
            raw + b"--fwd--",
            b"",
        ]
        raw = NL.join(lines).replace(b"fwd", b"fwd%d" % hop)
    return raw


def reason_of(raw: bytes, limits: ParseLimits) -> tuple[str, dict[str, object]]:
    with pytest.raises(ParseError) as caught:
        parse(raw, limits)
    return caught.value.reason.code, caught.value.reason.params


# --- each limit, with its reason ---------------------------------------------------------------


def test_default_limits() -> None:
    assert ParseLimits() == ParseLimits(
        max_message_bytes=30 * 1024 * 1024,
        max_header_bytes=256 * 1024,
        max_parts=500,
        max_depth=20,
        timeout_seconds=10.0,
    )


def test_too_large() -> None:
    code, params = reason_of(HEAD + NL + b"x" * 3 * 1024 * 1024, ParseLimits(max_message_bytes=2 * 1024 * 1024))
    assert code == "too_large"
    assert params == {"size_mb": 3.0, "limit_mb": 2.0}


def test_header_too_large() -> None:
    raw = HEAD + b"".join(b"X-Filler-%d: %s" % (i, b"y" * 90) + NL for i in range(50)) + NL + b"body"
    code, params = reason_of(raw, ParseLimits(max_header_bytes=2048))
    assert code == "header_too_large"
    assert params["limit_kb"] == 2


def test_header_without_a_body_counts_as_header() -> None:
    raw = HEAD + b"X-Filler: " + b"y" * 5000
    assert reason_of(raw, ParseLimits(max_header_bytes=2048))[0] == "header_too_large"


def test_too_many_parts() -> None:
    code, params = reason_of(many_parts(12), ParseLimits(max_parts=10))
    assert code == "too_many_parts"
    assert params == {"parts": 13, "limit": 10}


def test_parts_without_content_type_are_still_counted_while_parsing() -> None:
    """The byte scan cannot see parts without headers; the walk over the parsed tree stops them too."""
    raw = many_parts(30, with_content_type=False)
    precheck(raw, ParseLimits(max_parts=10))
    assert reason_of(raw, ParseLimits(max_parts=10))[0] == "too_many_parts"


def test_too_deep() -> None:
    code, params = reason_of(nested(6), ParseLimits(max_depth=4))
    assert code == "too_deep"
    assert params == {"depth": 6, "limit": 4}


def test_depth_follows_boundaries_not_part_count() -> None:
    assert multipart_depth(many_parts(50)) == 1
    assert multipart_depth(nested(7)) == 7
    assert multipart_depth(HEAD + NL + b"no multipart") == 0


def test_within_limits_parses() -> None:
    mail = parse(nested(4), ParseLimits(max_depth=4))
    assert mail.text == "innermost"


def test_corpus_sized_part_bomb_is_refused_before_parsing() -> None:
    started = time.monotonic()
    assert reason_of(many_parts(3000), ParseLimits())[0] == "too_many_parts"
    assert time.monotonic() - started < 5  # refused by the byte scan, not after a full parse


# --- the deadline --------------------------------------------------------------------------------


@pytest.fixture
def alarm_untouched() -> Iterator[None]:
    before = signal.getsignal(signal.SIGALRM)
    yield
    assert signal.getsignal(signal.SIGALRM) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.usefixtures("alarm_untouched")
def test_pathological_message_is_stopped_by_the_deadline() -> None:
    limits = ParseLimits(max_parts=1_000_000, max_depth=100, timeout_seconds=0.02)
    with pytest.raises(ParseTimeout) as caught:
        parse(many_parts(30_000), limits)
    assert caught.value.reason.code == "parse_timeout"
    assert caught.value.reason.params == {"seconds": 0.02}


@pytest.mark.usefixtures("alarm_untouched")
def test_deadline_lets_a_quick_block_finish() -> None:
    with deadline(5):
        total = sum(range(1000))
    assert total == 499500


@pytest.mark.usefixtures("alarm_untouched")
def test_deadline_restores_an_outer_handler_and_timer() -> None:
    fired: list[int] = []

    def outer(signum: int, frame: object) -> None:
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, outer)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        with deadline(5):
            pass
        assert signal.getsignal(signal.SIGALRM) is outer
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < remaining <= 30
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert fired == []


@pytest.mark.usefixtures("alarm_untouched")
def test_an_earlier_outer_deadline_still_fires() -> None:
    with pytest.raises(ParseTimeout) as caught, deadline(0.02), deadline(10):
        time.sleep(1)
    assert caught.value.reason.params == {"seconds": 0.02}


@pytest.mark.usefixtures("alarm_untouched")
def test_an_outer_handler_that_does_not_raise_is_called_once() -> None:
    fired: list[int] = []

    def outer(signum: int, frame: object) -> None:
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, outer)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        with deadline(5):
            time.sleep(0.05)
        time.sleep(0.02)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert fired == [signal.SIGALRM]


def test_deadline_is_a_no_op_off_the_main_thread() -> None:
    outcome: list[str] = []

    def work() -> None:
        with deadline(0.01):
            time.sleep(0.05)
        outcome.append("finished")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert outcome == ["finished"]


# --- hostile input ends in ParsedMail or ParseError, nothing else --------------------------------


def test_empty_message() -> None:
    mail = parse(b"")
    assert (mail.subject, mail.from_, mail.text, mail.attachments) == ("", None, "", ())
    assert parse(b"\r\n\r\n").from_ is None


def test_no_from_header() -> None:
    mail = parse(b"To: a@b.cn\r\nSubject: hi\r\n\r\nbody")
    assert mail.from_ is None
    assert mail.text == "body"


def test_truncated_mime() -> None:
    pdf = base64.encodebytes(b"%PDF-1.4" * 200).replace(b"\n", NL)
    lines = [
        HEAD + b"Content-Type: multipart/mixed; boundary=cut",
        b"",
        b"--cut",
        b"Content-Type: text/plain",
        b"",
        b"see attachment",
        b"--cut",
        b'Content-Type: application/pdf; name="a.pdf"',
        b"Content-Transfer-Encoding: base64",
        b"",
        pdf + b"--cut--",
        b"",
    ]
    raw = NL.join(lines)
    for cut in (len(HEAD) + 20, len(raw) // 2, len(raw) - 40, len(raw) - 3):
        mail = parse(raw[:cut])
        assert isinstance(mail, ParsedMail)
    mail = parse(raw[: len(raw) // 2 + 1])
    assert mail.text == "see attachment"
    assert mail.attachments[0].filename == "a.pdf"


def test_8bit_garbage_headers() -> None:
    noise = bytes(range(128, 256)) + b'\x00\x01=?=?utf-8?B?####?=;;"<>'
    names = [b"From", b"To", b"Subject", b"Content-Type", b"Content-Disposition", b"Date", b"Message-ID"]
    raw = b"".join(name + b": " + noise + NL for name in names) + b"To: x@y.cn, <" + noise + b">" + NL + NL + noise
    mail = parse(raw)
    assert mail.date is None
    assert "\ufffd" not in mail.subject


def test_a_forward_of_a_forward_of_a_forward() -> None:
    mail = parse(forwarded(3))
    assert mail.subject == "Fwd 2"
    for hop in (1, 0):
        (eml,) = mail.attachments
        assert (eml.filename, eml.content_type) == (f"Fwd {hop}.eml", "message/rfc822")
        mail = parse(eml.data)
    (eml,) = mail.attachments
    assert parse(eml.data).text == "原始邮件"


def test_random_damage_never_escapes_as_another_exception() -> None:
    """GIVEN seeded random cuts, flips and splices of realistic mail WHEN parsed THEN ParsedMail or ParseError."""
    rng = random.Random(20261124)
    seeds = [many_parts(5), nested(3), forwarded(2), HEAD + NL + "正文".encode("gbk")]
    splices = [
        b"\r",
        b"\n--b\n",
        b"=?gb2312?B?",
        b"?=",
        b"\x00",
        b";",
        b'"',
        b"Content-Type: message/rfc822\n\n",
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\n",
        b"\xff\xfe",
        b"filename*0*=x''%",
    ]
    for _ in range(300):
        raw = bytearray(rng.choice(seeds))
        action = rng.randrange(3)
        if action == 0:
            del raw[rng.randrange(len(raw)) :]
        elif action == 1:
            for _ in range(rng.randrange(1, 12)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        else:
            at = rng.randrange(len(raw) + 1)
            raw[at:at] = rng.choice(splices)
        try:
            parse(bytes(raw))
        except ParseError:
            pass


@pytest.mark.usefixtures("alarm_untouched")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped first alarm
def test_deadline_holds_when_the_alarm_lands_in_a_finaliser() -> None:
    """Python drops an exception raised in a __del__ (or a weakref callback, as the garbage
    collector runs them); a deadline whose alarm lands there must still end the block."""
    import time

    class Slow:
        def __del__(self) -> None:
            until = time.monotonic() + 0.2
            while time.monotonic() < until:  # the alarm fires in here, and its raise is dropped
                pass

    with pytest.raises(ParseTimeout), deadline(0.05):
        Slow()  # dropped at once: __del__ runs, and swallows the first alarm
        until = time.monotonic() + 5
        while time.monotonic() < until:
            pass
