"""SMTP transport: the only module that imports aiosmtplib.

Up to `concurrency` connections are kept open across sends, each carrying one letter at a
time; a dispatcher hands over a batch of that many letters and hears one result per letter.
The DATA phase is done by hand so that we know whether the final dot left: a failure before it
is temporary (nothing was delivered), a failure after it is ambiguous (the server may have
taken the message), and the reply to the dot is awaited for `data_timeout` (RFC 5321 4.5.3.2.6
suggests 10 minutes).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Sequence

import aiosmtplib

from mailflow.errors import AmbiguousDelivery, DeliveryError, PermanentDelivery, TransientDelivery
from mailflow.outbound.transports import Letter

_LEADING_DOT = re.compile(rb"(?m)^\.")


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
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self._password = username, password
        self.timeout, self.data_timeout = timeout, data_timeout
        self.ca_file = ca_file
        self.batch = concurrency
        self._runner = asyncio.Runner()
        self._pool: list[aiosmtplib.SMTP | None] = [None] * concurrency

    def send_many(self, letters: Sequence[Letter]) -> list[DeliveryError | None]:
        return self._runner.run(self._send_all(letters))

    def close(self) -> None:
        for smtp in self._pool:
            if smtp is not None and smtp.is_connected:
                try:
                    self._runner.run(smtp.quit())
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()
        self._pool = [None] * self.batch
        self._runner.close()

    async def _send_all(self, letters: Sequence[Letter]) -> list[DeliveryError | None]:
        """Each connection takes the next letter until none is left."""
        results: list[DeliveryError | None] = [None] * len(letters)
        queue = iter(range(len(letters)))

        async def worker(slot: int) -> None:
            for index in queue:
                try:
                    await self._send(slot, letters[index])
                except DeliveryError as exc:
                    results[index] = exc

        await asyncio.gather(*(worker(slot) for slot in range(min(self.batch, len(letters)))))
        return results

    async def _connection(self, slot: int) -> aiosmtplib.SMTP:
        current = self._pool[slot]
        if current is not None and current.is_connected:
            return current
        context = ssl.create_default_context(cafile=self.ca_file)
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            tls_context=context if self.security != "none" else None,
        )
        try:
            await smtp.connect()
            if self.username:
                await smtp.login(self.username, self._password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise PermanentDelivery(f"SMTP login refused: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientDelivery(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        self._pool[slot] = smtp
        return smtp

    async def _send(self, slot: int, letter: Letter) -> None:
        smtp = await self._connection(slot)
        try:
            await self._envelope(smtp, letter.sender, list(letter.recipients))
            await self._data(smtp, letter.message)
        except DeliveryError:
            await self._reset(smtp)
            raise

    async def _envelope(self, smtp: aiosmtplib.SMTP, sender: str, recipients: list[str]) -> None:
        try:
            await smtp.mail(sender)
            for recipient in recipients:
                await smtp.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientDelivery(f"connection lost before the data: {exc}") from exc

    async def _data(self, smtp: aiosmtplib.SMTP, message: bytes) -> None:
        try:
            start = await smtp.execute_command(b"DATA")
            if start.code != 354:
                raise _by_code(start.code, start.message)
            protocol = smtp.protocol
            if protocol is None:
                raise TransientDelivery("connection lost before the data")
            protocol.write(_LEADING_DOT.sub(b"..", message.rstrip(b"\r\n")) + b"\r\n.\r\n")
        except DeliveryError:
            raise
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientDelivery(f"connection lost before the final dot: {exc}") from exc
        # From here the server may have the whole message: no failure is simply temporary.
        try:
            reply = await protocol.read_response(timeout=self.data_timeout)
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


def _by_code(code: int, message: str) -> DeliveryError:
    text = f"{code} {message}".strip()
    if 400 <= code < 500:
        return TransientDelivery(text)
    return PermanentDelivery(text)
