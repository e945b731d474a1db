"""An IMAP mailbox as a mail source; the only module that imports imap_tools.

imap-tools owns the connection, login, folders, IDLE and MOVE. Raw bytes are fetched with
one UID FETCH per batch on its imaplib client, because letting imap-tools parse every
message as it fetches costs about 8x more and we parse once, later, on our own terms.
"""

from __future__ import annotations

import imaplib
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError, UnexpectedCommandStatusError
from imap_tools.mailbox import BaseMailBox
from imap_tools.utils import encode_folder

from mailflow import __version__
from mailflow.clock import nap
from mailflow.errors import SourceDropped, SourceError
from mailflow.ingest.source import Fetched, FolderInfo, MessageMeta, StopCheck

log = logging.getLogger("mailflow.ingest")

# RFC 2971 ID is not in imaplib's command table; imap-tools registers IDLE the same way.
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))

# RFC 2177 asks clients to re-issue IDLE at least every 29 minutes; stay well inside it.
IDLE_MAX_SECONDS = 25 * 60
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_DATE = re.compile(rb'INTERNALDATE "([^"]+)"')

T = TypeVar("T")


class ImapSource:
    uses_uid_order = True

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        security: str,
        user: str,
        password: str,
        folders: Sequence[str],
        idle: bool,
        timeout: float,
        action: str = "move",
        target: str = "Processed",
        ca_file: Path | None = None,
    ) -> None:
        self.name = name
        self.folders = tuple(folders)
        self.host, self.port, self.security = host, port, security
        self.ca_file = ca_file
        self.user, self._password = user, password
        self.idle_enabled = idle
        self.timeout = timeout
        self.action = action
        self.target = target
        self._box: BaseMailBox | None = None
        self._selected: str | None = None

    def describe(self) -> str:
        return f"imap {self.user}@{self.host}:{self.port}"

    # -- connection -----------------------------------------------------------------

    def open(self) -> None:
        if self._box is not None:
            return
        box: BaseMailBox
        try:
            if self.security == "tls":
                box = MailBox(self.host, self.port, timeout=self.timeout, ssl_context=self._tls())
            elif self.security == "starttls":
                box = MailBoxStartTls(self.host, self.port, timeout=self.timeout, ssl_context=self._tls())
            else:
                box = MailBoxUnencrypted(self.host, self.port, timeout=self.timeout)
            box.login(self.user, self._password, initial_folder=None)
        except MailboxLoginError as exc:
            raise SourceError(f"{self.describe()}: login refused: {exc}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise SourceError(f"{self.describe()}: the server's certificate is not trusted: {exc}") from exc
        except (OSError, imaplib.IMAP4.error, EOFError) as exc:
            raise SourceDropped(f"{self.describe()}: cannot connect: {exc}") from exc
        self._box = box
        self._selected = None
        self._call(self._refresh_capabilities)
        self._call(self._send_id)
        if self.action == "move":
            self._call(lambda: self._ensure_folder(self.target))

    def _tls(self) -> ssl.SSLContext:
        # Certificates and host names are always verified; a private CA is trusted by file.
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def close(self) -> None:
        box, self._box, self._selected = self._box, None, None
        if box is None:
            return
        try:
            box.client.sock.settimeout(2)
            box.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone; closing must not fail
            try:
                box.client.shutdown()
            except Exception:  # noqa: BLE001
                pass

    def _refresh_capabilities(self) -> None:
        # imaplib keeps the capabilities from before login; many servers (pymap, some
        # hosted ones) announce IDLE, MOVE or ID only once the user is authenticated.
        client = self._require().client
        typ, data = client.capability()
        if typ == "OK" and data and isinstance(data[-1], bytes):
            client.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())

    def detach(self) -> None:
        self._box, self._selected = None, None

    def _send_id(self) -> None:
        # NetEase 163/126 refuse SELECT until the client has identified itself (RFC 2971).
        box = self._require()
        if "ID" not in box.client.capabilities:
            return
        try:
            box.client.xatom("ID", f'("name" "mailflow" "version" "{__version__}")')
        except imaplib.IMAP4.error as exc:
            log.info("server refused ID", extra={"source": self.name, "error": str(exc)})

    def _ensure_folder(self, folder: str) -> None:
        box = self._require()
        if not box.folder.exists(folder):
            box.folder.create(folder)

    def _require(self) -> BaseMailBox:
        if self._box is None:
            self.open()
        assert self._box is not None
        return self._box

    def _call(self, fn: Callable[[], T]) -> T:
        """Run one server operation; a dead connection becomes SourceDropped."""
        try:
            return fn()
        except (TimeoutError, imaplib.IMAP4.abort, OSError, EOFError) as exc:
            self._forget()
            raise SourceDropped(f"{self.describe()}: connection lost: {exc}") from exc
        except (imaplib.IMAP4.error, UnexpectedCommandStatusError) as exc:
            raise SourceError(f"{self.describe()}: {exc}") from exc

    def _forget(self) -> None:
        box, self._box, self._selected = self._box, None, None
        if box is not None:
            try:
                box.client.shutdown()
            except Exception:  # noqa: BLE001 - already broken
                pass

    # -- reading ----------------------------------------------------------------------

    def select(self, folder: str) -> FolderInfo:
        def run() -> FolderInfo:
            client = self._require().client
            typ, data = client.select(encode_folder(folder))  # type: ignore[arg-type]
            if typ != "OK":
                raise SourceError(f"{self.describe()}: cannot select {folder!r}: {data!r}")
            self._selected = folder
            validity = _first_int(client.untagged_responses.get("UIDVALIDITY"))
            uidnext = _first_int(client.untagged_responses.get("UIDNEXT"))
            if validity is None or uidnext is None:
                status = self._require().folder.status(folder, ["UIDVALIDITY", "UIDNEXT"])
                validity, uidnext = status["UIDVALIDITY"], status["UIDNEXT"]
            return FolderInfo(uidvalidity=validity, uidnext=uidnext)

        return self._call(run)

    def _in(self, folder: str) -> imaplib.IMAP4:
        if self._selected != folder:
            self.select(folder)
        return self._require().client

    def pending(self, folder: str, after_uid: int) -> list[str]:
        def run() -> list[str]:
            client = self._in(folder)
            # This SEARCH sees everything that has arrived so far; an EXISTS noted after it
            # (during a FETCH or a MOVE) means new mail that wait() must not sleep through.
            _forget_arrivals(client)
            typ, data = client.uid("SEARCH", f"UID {after_uid + 1}:*")
            _ok(typ, data, "SEARCH")
            uids = sorted({int(u) for u in b" ".join(d for d in data if d).split()})
            # "n:*" always matches the highest UID, even when it is below n.
            return [str(u) for u in uids if u > after_uid]

        return self._call(run)

    def meta(self, folder: str, uids: Sequence[str]) -> list[MessageMeta]:
        if not uids:
            return []

        def run() -> list[MessageMeta]:
            metas = []
            for chunk in _chunks(uids, 1000):
                typ, data = self._in(folder).uid("FETCH", ",".join(chunk), "(UID RFC822.SIZE INTERNALDATE)")
                _ok(typ, data, "FETCH")
                for item in data:
                    line = item[0] if isinstance(item, tuple) else item
                    if not isinstance(line, bytes):
                        continue
                    uid, size, date = _UID.search(line), _SIZE.search(line), _DATE.search(line)
                    if uid:
                        metas.append(
                            MessageMeta(
                                uid.group(1).decode(),
                                int(size.group(1)) if size else 0,
                                _internaldate(date.group(1)) if date else None,
                            )
                        )
            order = {u: i for i, u in enumerate(uids)}
            return sorted(metas, key=lambda m: order.get(m.uid, 0))

        return self._call(run)

    def fetch(self, folder: str, uids: Sequence[str], *, headers_only: bool = False) -> list[Fetched]:
        if not uids:
            return []
        part = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"

        def run() -> list[Fetched]:
            typ, data = self._in(folder).uid("FETCH", ",".join(uids), f"(UID {part})")
            _ok(typ, data, "FETCH")
            return [Fetched(uid, raw, headers_only) for uid, raw in _literals(data)]

        return self._call(run)

    def mark(self, folder: str, uids: Sequence[str]) -> None:
        if not uids or self.action == "none":
            return

        def run() -> None:
            box = self._require()
            self._in(folder)
            if self.action == "move":
                box.move(list(uids), self.target, chunks=500)
            else:
                box.flag(list(uids), self.target, True, chunks=500)

        self._call(run)

    # -- waiting ----------------------------------------------------------------------

    def wait(self, timeout: float, should_stop: StopCheck) -> None:
        box = self._require()
        idle = self.idle_enabled and "IDLE" in box.client.capabilities
        if not idle:
            nap(timeout, should_stop)
            return
        self._in(self.folders[0])
        # Mail that arrived since our last SEARCH may already have been announced (and
        # some servers, pymap among them, do not announce it again when IDLE starts): a
        # NOOP collects any such notice, and we go round again instead of idling.
        self._call(box.client.noop)
        if _forget_arrivals(box.client):
            return
        limit = min(timeout, IDLE_MAX_SECONDS)

        def run() -> None:
            box.idle.start()
            self._idle(box, limit, should_stop)
            box.idle.stop()

        # An error inside IDLE leaves the connection in an unknown state: _call forgets it
        # rather than sending DONE into it, and the caller reconnects.
        self._call(run)

    def _idle(self, box: BaseMailBox, limit: float, should_stop: StopCheck) -> None:
        """Return on a server notice, at `limit` or when asked to stop; EOFError if the server is gone."""
        deadline = time.monotonic() + limit
        while not should_stop():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            # An EXISTS that came with the IDLE continuation is already read into
            # imaplib's untagged responses or its buffer, where poll() cannot see it.
            if _forget_arrivals(box.client) or _buffered(box.client):
                return
            responses = box.idle.poll(timeout=min(1.0, left))
            if responses:
                log.debug("IDLE woke", extra={"source": self.name, "responses": responses[:5]})
                return
            # poll() returns nothing both when the second passed quietly and when the server
            # closed the connection (it swallows the EOF). A closed socket stays readable, so
            # without this check the loop would spin on it at full speed until the deadline.
            if _closed(box.client):
                raise EOFError("the server closed the connection during IDLE")


def _forget_arrivals(client: imaplib.IMAP4) -> bool:
    """Drop the EXISTS/RECENT notices imaplib collected; say whether there were any."""
    seen = client.untagged_responses.pop("EXISTS", None)
    client.untagged_responses.pop("RECENT", None)
    return bool(seen)


def _buffered(client: imaplib.IMAP4) -> bool:
    """Whether server data waits in imaplib's read buffer (peek without blocking)."""
    sock = client.sock
    old = sock.gettimeout()
    sock.settimeout(0)
    try:
        return bool(client.file.peek(1))  # type: ignore[union-attr]
    except (BlockingIOError, OSError):
        return False
    finally:
        sock.settimeout(old)


def _closed(client: imaplib.IMAP4) -> bool:
    """Whether the server closed or reset the connection: nothing buffered, and the stream at its end.

    The peek reads the TCP stream itself (socket.socket.recv, below TLS, which refuses MSG_PEEK);
    what TLS has already decrypted is found by _buffered first, so a TLS record still in flight
    shows as data, not as an end.
    """
    if _buffered(client):
        return False
    sock = client.sock
    old = sock.gettimeout()
    sock.settimeout(0)
    try:
        return socket.socket.recv(sock, 1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False  # nothing yet: the connection is quiet, not closed
    except OSError:
        return True  # reset, or otherwise broken
    finally:
        sock.settimeout(old)


def _ok(typ: str, data: Any, what: str) -> None:
    if typ != "OK":
        raise SourceError(f"{what} failed: {data!r}")


def _first_int(values: list[Any] | None) -> int | None:
    if not values or not isinstance(values[-1], bytes):
        return None
    try:
        return int(values[-1])
    except ValueError:
        return None


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _literals(data: list[Any]) -> Iterator[tuple[str, bytes]]:
    """(uid, bytes) pairs from a UID FETCH reply; the UID may come before or after the literal."""
    pending: bytes | None = None
    for item in data:
        if isinstance(item, tuple):
            head, body = item
            match = _UID.search(head)
            if match:
                yield match.group(1).decode(), body
                pending = None
            else:
                pending = body
        elif isinstance(item, bytes) and pending is not None:
            match = _UID.search(item)
            if match:
                yield match.group(1).decode(), pending
            pending = None


def _internaldate(value: bytes) -> datetime | None:
    try:
        return datetime.strptime(value.decode(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None
