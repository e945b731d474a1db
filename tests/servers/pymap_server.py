"""pymap's in-memory (dict) backend as a test IMAP server, for machines without Dovecot.

It runs in-process on an asyncio loop in a daemon thread, so that restarts and dropped
connections keep the mailboxes and UIDVALIDITY can be changed in place. Two patches make it
behave like Dovecot where mailflow depends on it: `\\*` in PERMANENTFLAGS (any keyword), and one
write per response (imap-tools' IDLE poll aborts on a reply line split across TCP segments).
Known gaps: no SORT, CONDSTORE, QRESYNC, NAMESPACE, SPECIAL-USE; UIDs start at 101; its FLAGS
reply lists `\\*` too; IDLE may miss flag changes made by another connection (EXISTS is reliable).
"""

from __future__ import annotations

import asyncio
import io
import threading
from typing import Any


class PymapServer:
    """Serves one dict backend on 127.0.0.1; its users and mail live until stop()."""

    kind = "pymap"

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._conns: dict[asyncio.StreamWriter, asyncio.Task[Any]] = {}
        self._backend: Any = None
        self._config: Any = None

    def start(self, port: int) -> None:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="pymap", daemon=True)
            self._thread.start()
        self._call(self._listen(port))

    def stop(self) -> None:
        if self._loop is None:
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = None
        self._backend = self._config = None

    def restart(self, port: int) -> None:
        self._call(self._close())
        self._call(self._listen(port))

    def add_user(self, user: str, password: str) -> None:
        self._call(self._add_user(user, password))

    def drop_connections(self, user: str) -> None:
        self._call(self._drop_all())  # one test account is active at a time: drop them all

    def set_uidvalidity(self, user: str, folder: str, value: int) -> None:
        self._call(self._set_uidvalidity(user, folder, value))

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None, "pymap server is not running"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _listen(self, port: int) -> None:
        # pymap is imported only here, when used: a machine with Dovecot need not install it.
        from proxyprotocol.reader import ProxyProtocolReader
        from pymap.imap import IMAPServer

        if self._backend is None:
            self._backend, self._config = await _new_dict_backend()
        self._config.apply_context()
        imap_server = IMAPServer(self._backend.login, self._config)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, info: Any) -> None:
            self._conns[writer] = asyncio.current_task()  # type: ignore[assignment]
            try:
                await imap_server(reader, writer, info)
            finally:
                self._conns.pop(writer, None)

        # The PROXY-protocol reader runs `serve` as a task of its own, as pymap's service does.
        handler = ProxyProtocolReader(self._config.proxy_protocol).get_callback(serve)
        self._server = await asyncio.start_server(handler, "127.0.0.1", port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self._drop_all()

    async def _drop_all(self) -> None:
        tasks = list(self._conns.values())
        for writer in list(self._conns):
            writer.transport.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def _add_user(self, user: str, password: str) -> None:
        from pymap.backend.dict import Identity
        from pymap.user import UserMetadata

        self._config.apply_context()
        login = self._backend.login
        await Identity(user, login, None, frozenset()).set(UserMetadata(self._config, user, password=password))

    async def _set_uidvalidity(self, user: str, folder: str, value: int) -> None:
        self._config.apply_context()
        mailbox_set, _ = self._config.set_cache[user]  # made at the user's first login
        mailbox = await mailbox_set.get_mailbox(folder)
        mailbox._uid_validity = value
        await self._drop_all()


async def _new_dict_backend() -> tuple[Any, Any]:
    from argparse import Namespace

    from pymap.backend.dict import DictBackend
    from pysasl.hashing import Cleartext

    _patch_pymap()
    args = Namespace(
        debug=False,
        host="127.0.0.1",
        port=0,
        cert=None,
        key=None,
        tls=False,
        passlib_cfg=None,
        proxy_protocol=None,
        inherited_sockets=None,
        demo_data=False,
        demo_user="demouser",
        demo_password="demopass",
    )
    # Cleartext: the default PBKDF2 (500,000 rounds) would cost ~0.3 s per login.
    backend, config = await DictBackend.init(args, hash_context=Cleartext(), invalid_user_sleep=0.0)
    config.apply_context()
    return backend, config


def _patch_pymap() -> None:
    """Make pymap behave like Dovecot where the daemon depends on it (idempotent)."""
    from pymap.backend.dict.mailbox import MailboxData
    from pymap.imap import IMAPConnection
    from pymap.parsing.specials.flag import Wildcard

    if getattr(IMAPConnection, "_mailflow_patched", False):
        return
    system_flags = MailboxData.permanent_flags.fget  # type: ignore[attr-defined]
    # `\*` in PERMANENTFLAGS: clients may set any keyword ($MailflowDone ...), not only system flags.
    MailboxData.permanent_flags = property(lambda self: system_flags(self) | {Wildcard})

    async def write_response(self: Any, resp: Any) -> None:
        # pymap writes a FETCH reply in pieces; imap-tools' IDLE poll reads a non-blocking
        # socket and aborts on a line that arrives in two segments. One write per response.
        buf = io.BytesIO()
        await resp.async_write(buf)
        try:
            self.writer.write(buf.getvalue())
            await self.writer.drain()
        except ConnectionError:
            pass

    IMAPConnection.write_response = write_response
    IMAPConnection._mailflow_patched = True
