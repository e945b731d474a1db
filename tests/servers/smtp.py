"""A real SMTP server on 127.0.0.1 for the tests and benchmarks: aiosmtpd with a few scripted faults.

`kill_at` makes the server call `victim` (which SIGKILLs the sender: the daemon's process group,
as `systemctl kill -s KILL` would, or a sender process alone) at one step of a delivery,
to prove what survives a crash at each: "mail" (at MAIL FROM: nothing sent yet), "data" (at
DATA: before the message), "dot" (the server has the whole message and has not answered),
"reply" (the first letter of a batch was answered 250, the second is at its final dot: the
sender has not recorded the first yet).

Scripted faults are what a real server does on a bad day: a 4xx or 5xx to the final dot, a
dropped connection at DATA (before the message went) or right after the final dot (the server
has the message but the client never hears). `stall_at` ("mail" or "dot") makes the server go
silent at that step, for the sender's timeouts. `Recorder.peak` is the most connections open at
once, so a test can see the sender's concurrency from the server's side; `Recorder.connections`
counts every connection made. A recipient whose local part starts with "nobody" is refused at
RCPT TO (550); `Recorder.asked` lists every RCPT TO the server was asked. `start_smtp_server(recorder, smtputf8=True)` offers SMTPUTF8 (RFC 6531);
`Recorder.envelopes` keeps each accepted message's MAIL FROM, whether it carried SMTPUTF8, and
its recipients; `Recorder.greetings` the name the client gave in EHLO (or HELO), at each MAIL FROM;
`Recorder.quits` counts the QUIT commands that reached the server; `Recorder.peer` is the client's
(host, port) at the last MAIL FROM, so that a `victim` can find the process that sends.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Recorder:
    """Keeps every message the server accepted; `replies` scripts the answers to the final dot."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.dots: list[bytes] = []  # every message whose final dot arrived, whatever the answer
        self.envelopes: list[tuple[str, bool, tuple[str, ...]]] = []  # from, SMTPUTF8, to
        self.replies: list[str] = []
        self.drop_after_dot = False
        self.open = 0
        self.peak = 0
        self.connections = 0
        self.asked: list[str] = []
        self.greetings: list[str] = []
        self.quits = 0
        self.peer: tuple[str, int] | None = None
        self.arrived = threading.Condition()
        self.kill_at: str | None = None
        self.victim: Callable[[], None] | None = None
        self.stall_at: str | None = None
        self._answered = 0

    def kill(self, step: str) -> bool:
        if self.kill_at != step or self.victim is None:
            return False
        self.victim()
        self.kill_at = None
        return True

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.greetings.append(session.host_name)
        self.peer = session.peer
        self.kill("mail")
        await self.stall("mail")
        envelope.mail_from = address
        return "250 OK"

    async def stall(self, step: str) -> None:
        if self.stall_at == step:
            await asyncio.Event().wait()  # silent until the server stops

    def connected(self, change: int) -> None:
        self.connections += max(change, 0)
        self.open += change
        self.peak = max(self.peak, self.open)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until `count` messages have arrived (for latency measurements), or time out."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received) >= count, timeout)

    def keep(self, envelope: Any) -> None:
        with self.arrived:
            self.received.append(envelope.content)
            self.envelopes.append((envelope.mail_from, bool(envelope.smtp_utf8), tuple(envelope.rcpt_tos)))
            self.arrived.notify_all()

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        return "221 Bye"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.asked.append(address)
        if address.startswith("nobody"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.dots.append(envelope.content)
        await self.stall("dot")
        if self.kill_at == "dot":
            self.keep(envelope)
            self.kill("dot")
            return "250 OK"
        if self.kill_at == "reply":
            if self._answered == 0:
                self._answered += 1
                self.keep(envelope)
                return "250 OK"
            self.kill("reply")
            return "451 4.3.0 the sender is gone"
        if self.drop_after_dot:
            self.drop_after_dot = False
            self.keep(envelope)  # the server has it, but the client never hears
            server.transport.close()
            return "250 OK"
        reply = self.replies.pop(0) if self.replies else "250 OK"
        if reply.startswith("250"):
            self.keep(envelope)
        return reply


class DropsAtData(SmtpServer):
    """Closes the connection when DATA arrives, once: the message never got to the final dot."""

    drops = 0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.event_handler.connected(+1)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.event_handler.connected(-1)

    async def smtp_DATA(self, arg: str) -> None:
        self.event_handler.kill("data")
        if DropsAtData.drops:
            DropsAtData.drops -= 1
            assert self.transport is not None
            self.transport.close()
            return
        await super().smtp_DATA(arg)


class ScriptedController(Controller):
    def factory(self) -> SmtpServer:
        utf8 = bool(self.SMTP_kwargs["enable_SMTPUTF8"])
        return DropsAtData(self.handler, hostname="mailflow.test", enable_SMTPUTF8=utf8)


def start_smtp_server(recorder: Recorder, *, smtputf8: bool = False) -> ScriptedController:
    controller = ScriptedController(recorder, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=smtputf8)
    controller.start()
    return controller
