"""SMTP transport: the only module that imports aiosmtplib.

Up to `concurrency` connections (the transport's slots) are kept open across sends, each
carrying one letter at a time.
The DATA phase is done by hand so that we know whether the final dot left: a failure before it
is temporary (nothing was delivered), a failure after it is ambiguous (the server may have
taken the message), and the reply to the dot is awaited for `data_timeout` (RFC 5321 4.5.3.2.6
suggests 10 minutes). One deadline covers a letter's commands up to the dot (`timeout`), then
is moved on for the reply: a timer per letter instead of one per command, which showed in the
sender's CPU time.
A connection that has carried no letter for `idle_quit` seconds is closed with QUIT when the
dispatcher next looks in (`close_idle`), before the server times it out.
`check_login` is what `mailflow check` asks of the server: a connection and a login, nothing sent,
and the largest message it takes (SIZE).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiosmtplib
from aiosmtplib.protocol import SMTPProtocol

from mailflow.errors import AmbiguousDelivery, DeliveryError, PermanentDelivery, RecipientRefused, TransientDelivery
from mailflow.outbound.transports import Letter

_LEADING_DOT = re.compile(rb"(?m)^\.")
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")  # no space, no CR/LF, no <>
# Seconds without a letter after which a pooled connection is closed with QUIT. Servers drop an
# idle client after 5 minutes (RFC 5321 4.5.3.2.7; Postfix's smtpd_timeout is 300 s) and log
# each one as a timeout; the sender looks in at least every 30 s, so an idle connection ends
# within 90 s. A constant, not a setting: reconnecting costs one greeting, nothing to tune.
IDLE_QUIT = 60.0


@dataclass(frozen=True)
class ServerCheck:
    """What `check_login` found: what was done, and the SIZE the server offers (RFC 1870), in bytes;
    None when it names no limit."""

    summary: str
    size_limit: int | None


class SmtpTransport:
    name = "smtp"
    idempotent = False

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",  # tls | starttls | none
        username: str = "",
        password: str = "",
        timeout: float = 60.0,
        data_timeout: float = 600.0,
        ca_file: str | None = None,
        concurrency: int = 1,
        helo_name: str = "mailflow.invalid",
        idle_quit: float = IDLE_QUIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        # Our name in EHLO: aiosmtplib's default is this host's socket.getfqdn(), `localhost` on
        # many machines, which servers that check the greeting refuse (see config.helo_name).
        self.helo_name = helo_name
        self.username, self._password = username, password
        self.timeout, self.data_timeout = timeout, data_timeout
        self.ca_file = ca_file
        self.slots = concurrency
        self._pool: list[aiosmtplib.SMTP | None] = [None] * concurrency
        self.idle_quit, self._clock = idle_quit, clock
        self._idle_since: list[float | None] = [None] * concurrency  # None: carrying a letter, or never used
        # Told a letter's Message-ID just before its final dot is written (see outbound.handover).
        self.on_final_dot: Callable[[str], None] = _nothing
        self._tls: ssl.SSLContext | None = None

    async def send(self, slot: int, letter: Letter) -> None:
        smtp = await self._connection(slot)
        self._idle_since[slot] = None
        dot = False  # whether the final dot has left: from then on the server may have the letter
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                await self._envelope(smtp, letter.sender, list(letter.recipients))
                protocol = await self._data(smtp, letter)
                dot = True
                deadline.reschedule(asyncio.get_running_loop().time() + self.data_timeout)
                await self._reply_to_dot(smtp, protocol)
        except TimeoutError as exc:
            smtp.close()  # a reply may still come: the connection is out of step
            if dot:
                raise AmbiguousDelivery(f"no reply after the final dot within {self.data_timeout:g} s") from exc
            raise TransientDelivery(f"no reply from the server within {self.timeout:g} s") from exc
        except DeliveryError:
            await self._reset(smtp)  # a refused envelope is not left open under the next letter
            raise
        except BaseException:
            smtp.close()  # out of step with the server: the next letter starts on a new connection
            raise
        finally:
            self._idle_since[slot] = self._clock()

    async def close_idle(self) -> None:
        """QUIT every connection that has carried no letter for `idle_quit` seconds."""
        now = self._clock()
        for slot, smtp in enumerate(self._pool):
            since = self._idle_since[slot]
            if smtp is not None and since is not None and now - since >= self.idle_quit:
                self._pool[slot], self._idle_since[slot] = None, None
                await _quit(smtp)

    @property
    def longest_hold(self) -> float:
        """The longest one letter may take here: connecting, TLS and login (each up to `timeout`),
        the commands up to the final dot (one `timeout`), and the reply to the dot."""
        return 4 * self.timeout + self.data_timeout

    async def check_login(self) -> ServerCheck:
        """Connect, EHLO, TLS as configured, AUTH when a user is set, QUIT; says what was done, and
        the largest message the server takes.

        A refusal or an unreachable server raises the DeliveryError a send would, with the reply.
        """
        try:
            smtp = await self._connection(0)
            size_limit = _size_limit(smtp.esmtp_extensions.get("size", ""))
        finally:
            await self.aclose()
        login = f"logged in as {self.username}" if self.username else "connected, no login configured"
        return ServerCheck(f"{login} at {self.host}:{self.port} ({self.security})", size_limit)

    async def aclose(self) -> None:
        for smtp in self._pool:
            if smtp is not None:
                await _quit(smtp)
        self._pool = [None] * self.slots
        self._idle_since = [None] * self.slots

    async def _connection(self, slot: int) -> aiosmtplib.SMTP:
        current = self._pool[slot]
        if current is not None and current.is_connected:
            return current
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            tls_context=self._tls_context(),
            local_hostname=self.helo_name,
        )
        try:
            await smtp.connect()
            if self.username:
                await smtp.login(self.username, self._password)
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise PermanentDelivery(f"SMTP login refused: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientDelivery(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        self._pool[slot] = smtp
        return smtp

    def _tls_context(self) -> ssl.SSLContext | None:
        """Made once: loading the system's certificates takes tens of milliseconds, which every
        connection (and reconnection) paid before."""
        if self.security == "none":
            return None
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=self.ca_file)
        return self._tls

    async def _envelope(self, smtp: aiosmtplib.SMTP, sender: str, recipients: list[str]) -> None:
        """MAIL FROM and RCPT TO. Plain ASCII addresses (most are) are written as they are, which
        spares aiosmtplib's address parsing on every letter; others go through it."""
        try:
            if all(_PLAIN_ADDRESS.fullmatch(a) for a in (sender, *recipients)):
                await self._plain_envelope(smtp, sender, recipients)
            else:
                await self._parsed_envelope(smtp, sender, recipients)
        except DeliveryError:
            raise
        except aiosmtplib.SMTPRecipientRefused as exc:
            raise _by_code(exc.code, exc.message, exc.recipient) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientDelivery(f"connection lost before the data: {exc}") from exc
        except ValueError as exc:  # aiosmtplib will not put this address on a command line
            raise PermanentDelivery(f"the address cannot be sent: {exc}") from exc

    @staticmethod
    async def _plain_envelope(smtp: aiosmtplib.SMTP, sender: str, recipients: list[str]) -> None:
        reply = await smtp.execute_command(b"MAIL FROM:<" + sender.encode("ascii") + b">", timeout=None)
        if reply.code != 250:
            raise _by_code(reply.code, reply.message)
        for recipient in recipients:
            reply = await smtp.execute_command(b"RCPT TO:<" + recipient.encode("ascii") + b">", timeout=None)
            if reply.code not in (250, 251):
                raise _by_code(reply.code, reply.message, recipient)

    @staticmethod
    async def _parsed_envelope(smtp: aiosmtplib.SMTP, sender: str, recipients: list[str]) -> None:
        """An address beyond ASCII (张三@例子.中国) goes only with SMTPUTF8 on MAIL FROM (RFC 6531); a
        server that does not offer it can never take the letter, so that is final."""
        wide = next((a for a in (sender, *recipients) if not a.isascii()), None)
        options = []
        if wide is not None:
            if not smtp.supports_extension("smtputf8"):
                raise PermanentDelivery(f"the server does not offer SMTPUTF8, needed for {wide}")
            options = ["SMTPUTF8"]
        await smtp.mail(sender, options=options, encoding="utf-8", timeout=None)
        for recipient in recipients:
            await smtp.rcpt(recipient, encoding="utf-8", timeout=None)

    async def _data(self, smtp: aiosmtplib.SMTP, letter: Letter) -> SMTPProtocol:
        """DATA, then the message and the final dot; returns the protocol to read the reply from."""
        message = letter.message
        try:
            start = await smtp.execute_command(b"DATA", timeout=None)
            if start.code != 354:
                raise _by_code(start.code, start.message)
            protocol = smtp.protocol
            if protocol is None:
                raise TransientDelivery("connection lost before the data")
            if message.startswith(b".") or b"\n." in message:  # rare: base64 lines never start with a dot
                message = _LEADING_DOT.sub(b"..", message)
            # Noted first: a sender killed after this may have handed the letter over, and only then.
            self.on_final_dot(letter.message_id)
            protocol.write(message.rstrip(b"\r\n") + b"\r\n.\r\n")
        except DeliveryError:
            raise
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientDelivery(f"connection lost before the final dot: {exc}") from exc
        return protocol

    @staticmethod
    async def _reply_to_dot(smtp: aiosmtplib.SMTP, protocol: SMTPProtocol) -> None:
        """From here the server may have the whole message: no failure is simply temporary."""
        try:
            reply = await protocol.read_response(timeout=None)
        except (aiosmtplib.SMTPException, OSError) as exc:
            smtp.close()
            raise AmbiguousDelivery(f"no reply after the final dot: {exc}") from exc
        if reply.code != 250:
            raise _by_code(reply.code, reply.message)

    @staticmethod
    async def _reset(smtp: aiosmtplib.SMTP) -> None:
        if smtp.is_connected:
            try:
                await smtp.rset()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()


def _size_limit(param: str) -> int | None:
    """The SIZE extension's parameter as a byte count; no number, or 0, means no fixed limit (RFC 1870)."""
    try:
        limit = int(param.strip())
    except ValueError:
        return None
    return limit or None


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    """End a connection politely, or just close it when the server is gone or does not answer."""
    if not smtp.is_connected:
        return
    try:
        await smtp.quit()
    except (aiosmtplib.SMTPException, OSError):
        smtp.close()


def _by_code(code: int, message: str, recipient: str | None = None) -> DeliveryError:
    """The failure a reply means; `recipient` when it answered RCPT TO for that address."""
    text = f"{code} {message}".strip()
    if 400 <= code < 500:
        return TransientDelivery(text)
    if recipient is not None:
        return RecipientRefused(text, recipient)
    return PermanentDelivery(text)


def _nothing(_message_id: str) -> None:
    """No handover journal: a killed sender's letters are all held as ambiguous."""
