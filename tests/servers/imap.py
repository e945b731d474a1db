"""Real IMAP servers for tests: a private Dovecot when installed, else pymap in-process.

`ImapTestServer` is the one interface; `kind` says which server is behind it: the one forced by
`MAILFLOW_TEST_IMAP=dovecot|pymap`, else Dovecot when its binary exists, else pymap (PyPI, pure
Python), so the tests also pass on a machine without Dovecot.

Each test gets a fresh, empty account from `new_user()` rather than a new server. The admin
helpers (`append`, `uids`, ...) use stdlib imaplib on one persistent connection, which
reconnects when a test has made the server drop it.

Fault injection, per server:
- `drop_connections()`: Dovecot `doveadm kick USER`, then waits until `doveadm who` no longer
  lists the user; pymap aborts every client transport. Clients fail on their next command.
- `reset_uidvalidity(folder)`: UIDVALIDITY becomes old + 1; messages, UIDs and bytes stay.
  Dovecot: `doveadm mailbox update --uid-validity` on the running server; a session that has
  the folder selected gets "* BYE IMAP session state is inconsistent" at its next sync (within
  ~1 s in IDLE). pymap: the value is rewritten in memory and every connection is dropped, since
  pymap would not tell its selected sessions.
- `recreate_folder(folder, uidvalidity)`: Dovecot only: `doveadm mailbox delete` and `create`,
  then `mailbox update --uid-validity` when a value is given: the folder is empty, its UIDs start
  again at 1, and its UIDVALIDITY may be one it had before (a restore from a backup).
- `kill_sessions()`: Dovecot only, which serves each session from a process of its own: SIGKILL
  to every imap process of the user, so the kernel closes its socket without a BYE; a client in
  IDLE sees a bare EOF. `sessions()` says which processes serve the user and what each is doing.
"""

from __future__ import annotations

import imaplib
import os
import socket
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from imap_tools import MailBoxUnencrypted
from imap_tools.utils import encode_folder

from servers.dovecot import DovecotServer, dovecot_binary
from servers.pymap_server import PymapServer

KINDS = ("dovecot", "pymap")
T = TypeVar("T")


def available_kinds() -> list[str]:
    """The kinds to test: the forced one, else every kind installed here."""
    forced = os.environ.get("MAILFLOW_TEST_IMAP")
    if forced:
        if forced not in KINDS:
            raise ValueError(f"MAILFLOW_TEST_IMAP={forced!r}: expected one of {KINDS}")
        return [forced]
    return ["dovecot", "pymap"] if dovecot_binary() else ["pymap"]


def default_kind() -> str:
    return available_kinds()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Backend(Protocol):
    kind: str

    def start(self, port: int) -> None: ...
    def stop(self) -> None: ...
    def restart(self, port: int) -> None: ...
    def add_user(self, user: str, password: str) -> None: ...
    def drop_connections(self, user: str) -> None: ...
    def set_uidvalidity(self, user: str, folder: str, value: int) -> None: ...


class ImapTestServer:
    """One IMAP server on 127.0.0.1 with a current test account (`user`, `password`)."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, kind: str | None = None) -> None:
        self.kind = kind or default_kind()
        if self.kind not in KINDS:
            raise ValueError(f"unknown IMAP server kind {self.kind!r}")
        self.port = free_port()
        self.password = "mailflow-test"
        self.user = ""
        self._users = 0
        self._admin: imaplib.IMAP4 | None = None
        self._backend: _Backend = DovecotServer(workdir, self.password) if self.kind == "dovecot" else PymapServer()
        # What the daemon may rely on; both servers do IDLE, MOVE, UIDPLUS and keywords.
        self.supports_move = self.supports_uidplus = self.supports_keywords = True
        self.supports_sort = self.supports_condstore = self.kind == "dovecot"

    def __repr__(self) -> str:
        return f"<ImapTestServer {self.kind} {self.host}:{self.port} user={self.user}>"

    # -- lifecycle ---------------------------------------------------------------
    @property
    def tls_port(self) -> int | None:
        """Port of implicit TLS (imaps), where the server offers it (Dovecot); STARTTLS is on `port`."""
        return getattr(self._backend, "tls_port", None)

    @property
    def ca_file(self) -> Path | None:
        """The certificate to trust for TLS to this server."""
        return getattr(self._backend, "ca_file", None)

    def start(self) -> None:
        self._backend.start(self.port)
        if not self.user:
            self.new_user()

    def stop(self) -> None:
        self._close_admin()
        self._backend.stop()

    def restart(self) -> None:
        """Stop and start again on the same port, keeping every mailbox."""
        self._close_admin()
        self._backend.restart(self.port)

    def new_user(self) -> str:
        """Switch to a new, empty account (the test's own mailbox); returns its name."""
        self._close_admin()
        self._users += 1
        self.user = f"user{self._users:04d}"
        self._backend.add_user(self.user, self.password)
        return self.user

    # -- fault injection ---------------------------------------------------------
    def drop_connections(self) -> None:
        """The server closes every connection of the current user (admin one included)."""
        self._backend.drop_connections(self.user)
        self._close_admin()

    def reset_uidvalidity(self, folder: str = "INBOX") -> None:
        """Present a new UIDVALIDITY for `folder`, keeping its messages, as after a rebuild."""
        new = self.uidvalidity(folder) + 1
        self._close_admin()
        self._backend.set_uidvalidity(self.user, folder, new)

    def recreate_folder(self, folder: str, uidvalidity: int | None = None) -> None:
        """Dovecot: `folder` is deleted and created again, as by a rebuild or a restore: empty, UIDs
        from 1, and a new UIDVALIDITY, or `uidvalidity` (an old value, as a backup brings back)."""
        self._close_admin()
        self._dovecot().recreate_folder(self.user, folder, uidvalidity)

    def sessions(self) -> dict[int, str]:
        """Dovecot: pid -> command in hand ("IDLE", or "" between commands) of each session of the user."""
        return self._dovecot().sessions(self.user)

    def kill_sessions(self) -> list[int]:
        """Dovecot: kill -9 the process behind each session of the user (the admin one included)."""
        self._close_admin()
        return self._dovecot().kill_sessions(self.user)

    def _dovecot(self) -> DovecotServer:
        if not isinstance(self._backend, DovecotServer):
            raise NotImplementedError(f"{self.kind} runs no process per session")
        return self._backend

    # -- clients -----------------------------------------------------------------
    def mailbox(self, folder: str = "INBOX") -> MailBoxUnencrypted:
        """A logged-in imap-tools client for the current user; the caller logs out."""
        return MailBoxUnencrypted(self.host, self.port, timeout=10).login(self.user, self.password, folder)

    def append(
        self, raw: bytes, folder: str = "INBOX", flags: Iterable[str] = (), date: datetime | None = None
    ) -> None:
        """APPEND `raw` (imaplib sends bare LFs as CRLF, as IMAP requires)."""
        flag_list = "(" + " ".join(flags) + ")" if flags else None
        when = imaplib.Time2Internaldate(date) if date else None
        self._admin_call(lambda c: _ok(c.append(encode_folder(folder), flag_list, when, raw)))

    def uids(self, folder: str = "INBOX") -> list[int]:
        def run(c: imaplib.IMAP4) -> list[int]:
            _examine(c, folder)
            return [int(u) for u in _ok(c.uid("SEARCH", "ALL"))[0].split()]

        return self._admin_call(run)

    def fetch_raw(self, uid: int, folder: str = "INBOX") -> bytes:
        def run(c: imaplib.IMAP4) -> bytes:
            _examine(c, folder)
            for part in _ok(c.uid("FETCH", str(uid), "(BODY.PEEK[])")):
                if isinstance(part, tuple):
                    return part[1]
            raise KeyError(f"no UID {uid} in {folder}")

        return self._admin_call(run)

    def flags(self, uid: int, folder: str = "INBOX") -> set[str]:
        """Permanent flags and keywords of one message (\\Recent is per session, left out)."""

        def run(c: imaplib.IMAP4) -> set[str]:
            _examine(c, folder)
            data = _ok(c.uid("FETCH", str(uid), "(FLAGS)"))
            if data[0] is None:
                raise KeyError(f"no UID {uid} in {folder}")
            return {f.decode() for f in imaplib.ParseFlags(data[0])} - {"\\Recent"}

        return self._admin_call(run)

    def create_folder(self, name: str) -> None:
        self._admin_call(lambda c: _ok(c.create(encode_folder(name))))

    def folder_exists(self, name: str) -> bool:
        return self._admin_call(lambda c: _ok(c.list('""', encode_folder(name)))[0] is not None)

    def count(self, folder: str = "INBOX") -> int:
        return self._admin_call(lambda c: int(_examine(c, folder)[0]))

    def uidvalidity(self, folder: str = "INBOX") -> int:
        def run(c: imaplib.IMAP4) -> int:
            _examine(c, folder)
            return int(c.untagged_responses["UIDVALIDITY"][0])

        return self._admin_call(run)

    # -- admin connection ----------------------------------------------------------
    def _admin_call(self, fn: Callable[[imaplib.IMAP4], T]) -> T:
        """Run fn on the admin connection; reconnect once if the server had dropped it."""
        for attempt in (1, 2):
            if self._admin is None:
                conn = imaplib.IMAP4(self.host, self.port, timeout=10)
                # imaplib writes an APPEND literal and its CRLF separately: without this, Nagle
                # plus delayed ACK costs ~45 ms per APPEND against pymap.
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.login(self.user, self.password)
                self._admin = conn
            try:
                return fn(self._admin)
            except (imaplib.IMAP4.abort, OSError):
                self._close_admin()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _close_admin(self) -> None:
        conn, self._admin = self._admin, None
        if conn is not None:
            try:
                conn.shutdown()
            except OSError:
                pass


def _ok(result: tuple[str, list[Any]]) -> list[Any]:
    typ, data = result
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{typ}: {data!r}")
    return data


def _examine(conn: imaplib.IMAP4, folder: str) -> list[Any]:
    """EXAMINE (read-only: the admin never takes \\Recent from the daemon); returns [EXISTS].

    A fresh EXAMINE, not STATUS: STATUS of the mailbox a session has selected may answer from
    that session's stale view (Dovecot), and pymap refuses CLOSE after EXAMINE.
    """
    return _ok(conn.select(encode_folder(folder), readonly=True))
