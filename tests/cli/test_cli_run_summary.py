"""`mailflow run --once` says what it could not send and why, and fails when its sender died:
"sent 0" and exit 0 read as success when every letter had gone to a retry, or the sender was dead."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from builders import LIAISON, add_liaison, deliver, make_app, make_mail, write_config
from processes import children, holder_of_connection
from servers.smtp import Recorder

REFUSED = "nobody@hongda-machinery.cn"  # the test server refuses it at RCPT TO (550 5.1.1)


def home(tmp: Path, port: int) -> Path:
    """A home that reads a local Maildir and sends by SMTP to `port`; two liaisons on the roster."""
    smtp = {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5, "data_timeout": 5, "concurrency": 1}
    sections = {"outbound": {"transport": "smtp", "smtp": smtp}}
    config = write_config(tmp, **sections)
    app = make_app(tmp, **sections)
    add_liaison(app)
    add_liaison(app, email=REFUSED, unit="宏达机械销售有限公司", code="HD002")
    app.close()
    return config


def run_once(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mailflow", "run", "--once", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_letters_left_for_a_retry_or_dead_are_counted_with_their_reasons(
    tmp_path: Path, smtp_server: tuple[Recorder, int]
) -> None:
    """GIVEN a server that answers 451 to the final dot, and refuses one liaison's address for good,
    WHEN run --once answers both liaisons THEN it says "sent 0", then how many letters wait for
    a retry and how many are dead, each with the server's reason; exit 0 (nothing failed here)."""
    recorder, port = smtp_server
    recorder.replies = ["451 4.3.0 try again later"]
    config = home(tmp_path, port)
    deliver(tmp_path / "Maildir", make_mail(sender=LIAISON, message_id="<a@hongda-machinery.cn>"))
    deliver(tmp_path / "Maildir", make_mail(sender=REFUSED, message_id="<b@hongda-machinery.cn>"))

    proc = run_once(config)
    stdout, stderr = proc.communicate(timeout=120)

    assert proc.returncode == 0, stdout + stderr
    assert "processed 2" in stdout and "sent 0" in stdout
    assert "not sent: 1 waiting for a retry, 1 dead (each is in `mailflow outbox list`)" in stdout
    assert "  waiting for a retry: 451 4.3.0 try again later (1)" in stdout
    assert "  dead: 550 5.1.1 no such user (1)" in stdout


def test_a_sender_that_dies_makes_the_pass_fail(tmp_path: Path, smtp_server: tuple[Recorder, int]) -> None:
    """GIVEN a sender process that is killed (SIGKILL) while the server holds the letter it sent
    WHEN run --once ends THEN it exits 1, saying the sender stopped, and counts the letter that
    may have arrived as ambiguous."""
    recorder, port = smtp_server
    config = home(tmp_path, port)
    deliver(tmp_path / "Maildir", make_mail(sender=LIAISON, message_id="<a@hongda-machinery.cn>"))
    proc = run_once(config)

    def kill_the_sender() -> None:
        assert recorder.peer is not None
        sender = holder_of_connection(recorder.peer[1], children(proc.pid))
        assert sender is not None, "the process that sends is a child of `mailflow run`"
        os.kill(sender, signal.SIGKILL)

    recorder.kill_at, recorder.victim = "dot", kill_the_sender
    stdout, stderr = proc.communicate(timeout=120)

    assert recorder.kill_at is None, "the sender was killed"
    assert proc.returncode == 1, stdout + stderr
    assert "error: the sender stopped (killed by SIGKILL)" in stderr
    assert "not sent: 1 ambiguous" in stdout
