"""A private, throw-away Postfix for tests: its own config, queue, data, Maildirs and log, on 127.0.0.1.

Local delivery only, as Debian's "Local only" sets it up: the test domains are `mydestination`,
every other domain goes to the `error` transport, so nothing can leave the machine. It is started
with `postfix -c DIR start` and stopped with `postfix -c DIR stop`, as root (Postfix's master
needs root); a system Postfix, if there is one, is neither used nor touched.

Mail for a local address is delivered by virtual(8) into `DIR/mail/<domain>/<user>/Maildir/`:
local(8) would want a system account and home for every mailbox. virtual(8) delivers as nobody
(it refuses uid 0), and its lookups run as postfix, neither of whom can pass pytest's 0700 temp
root, so the whole instance lives in a private /tmp/mailflow-postfix-* dir (0755) that stop()
removes, after copying the log into the test's `workdir`.

`accept_unknown=True` empties `local_recipient_maps`: Postfix then accepts a letter to a local
address that has no mailbox and bounces it with a real RFC 3464 report; by default it refuses
one at RCPT TO with 550 5.1.1. `settings` adds main.cf lines (e.g. HELO restrictions).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from processes import running


def postfix_binary() -> str | None:
    """The postfix command's path, or None (/usr/sbin is often not on a normal user's PATH)."""
    return shutil.which("postfix") or shutil.which("postfix", path="/usr/sbin")


def unavailable() -> str | None:
    """Why no private Postfix can run here, or None when one can."""
    if postfix_binary() is None:
        return "Postfix is not installed (apt-get install postfix; .ci/setup-services does it)"
    if os.geteuid() != 0:
        return "a private Postfix needs root (its master process starts as root)"
    return None


_MAIN_CF = """\
compatibility_level = 3.6
# Everything of this instance is in {dir}: nothing is shared with a system Postfix.
config_directory = {dir}/etc
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.{domain}
mydomain = {domain}
myorigin = {domain}
mydestination = {domains}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Local only: mail for any other domain fails at once, nothing can leave the machine.
relayhost =
default_transport = error
relay_transport = error
# Local mail goes into Maildirs by virtual(8), as nobody: no system accounts needed.
local_transport = virtual
virtual_mailbox_base = {dir}/mail
virtual_mailbox_maps = texthash:{dir}/etc/mailboxes
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
local_recipient_maps = {local_recipient_maps}
alias_maps =
alias_database =
recipient_delimiter = +
smtputf8_enable = yes
maillog_file = {dir}/log/postfix.log
maillog_file_prefixes = {dir}/log
# 127.0.0.1 needs no DNS: a lookup would only slow every connection down.
smtpd_peername_lookup = no
biff = no
"""

# Only what local delivery needs, chroot off for every service (the chroot jails of Debian's own
# master.cf are set up by its init script, which a private instance does not run).
_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
proxywrite unix - - n -     1 proxymap
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
local     unix  - n n -     - local
virtual   unix  - n n -     - virtual
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class PostfixServer:
    """`postfix -c DIR start` for `domains`, with a Maildir for each of `mailboxes`."""

    def __init__(
        self,
        workdir: Path,
        *,
        domains: Iterable[str],
        mailboxes: Iterable[str],
        accept_unknown: bool = False,
        settings: dict[str, str] | None = None,
    ) -> None:
        binary = postfix_binary()
        if binary is None:
            raise RuntimeError(unavailable() or "no postfix")
        self._postfix = binary
        self.workdir = workdir
        self.domains = tuple(domains)
        self.mailboxes = tuple(m.lower() for m in mailboxes)
        self.accept_unknown = accept_unknown
        self.settings = dict(settings or {})
        self.host = "127.0.0.1"
        self.port = _free_port()
        self._dir: Path | None = None

    # -- running -------------------------------------------------------------------------

    def start(self) -> PostfixServer:
        self._dir = Path(tempfile.mkdtemp(prefix="mailflow-postfix-"))
        self._dir.chmod(0o755)
        try:
            self._write_instance(self._dir)
            self._postfix_run("start")
            self._wait_for_greeting()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        folder, self._dir = self._dir, None
        if folder is None:
            return
        master = _master_pid(folder)
        subprocess.run([self._postfix, "-c", str(folder / "etc"), "stop"], check=False, capture_output=True)
        _wait_gone(master)
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = folder / "log" / "postfix.log"
        if log.exists():
            shutil.copyfile(log, self.workdir / "postfix.log")  # kept with the test's files
        shutil.rmtree(folder, ignore_errors=True)

    # -- what a test does with it ----------------------------------------------------------

    def maildir(self, address: str) -> Path:
        """The Maildir Postfix delivers `address`'s mail to."""
        assert self._dir is not None, "not started"
        return _maildir_in(self._dir, address.lower())

    def send(self, raw: bytes, *, sender: str, recipients: Iterable[str], helo: str = "mail.example.net") -> None:
        """Hand a message to Postfix over SMTP, as another mail server would."""
        with smtplib.SMTP(self.host, self.port, local_hostname=helo, timeout=10) as client:
            client.sendmail(sender, list(recipients), raw)

    def delivered(self, address: str) -> list[bytes]:
        """Every message in the top folder of `address`'s Maildir (new/ and cur/), oldest first."""
        folder = self.maildir(address)
        found: list[tuple[float, str, bytes]] = []
        for path in [p for sub in ("new", "cur") for p in (folder / sub).iterdir()]:
            try:
                found.append((path.stat().st_mtime, path.name, path.read_bytes()))
            except FileNotFoundError:
                continue  # moved meanwhile (a reader took it, or new/ to cur/)
        return [raw for _, _, raw in sorted(found)]

    def wait_for(self, address: str, wanted: Callable[[bytes], bool] = lambda _raw: True, timeout: float = 20) -> bytes:
        """The first message in `address`'s Maildir that is `wanted`, once Postfix has delivered it."""
        deadline = time.monotonic() + timeout
        while True:
            found = [raw for raw in self.delivered(address) if wanted(raw)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"nothing for {address} within {timeout:g} s; Postfix log:\n{self.log_text[-3000:]}"
                )
            time.sleep(0.05)

    @property
    def log_text(self) -> str:
        folder = self._dir
        path = folder / "log" / "postfix.log" if folder is not None else self.workdir / "postfix.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- internals -------------------------------------------------------------------------

    def _write_instance(self, folder: Path) -> None:
        nobody = pwd.getpwnam("nobody")
        postfix = pwd.getpwnam("postfix")
        for sub in ("etc", "queue", "data", "log", "mail"):
            (folder / sub).mkdir()
        os.chown(folder / "data", postfix.pw_uid, postfix.pw_gid)  # master's lock file, tls caches
        main = _MAIN_CF.format(
            dir=folder,
            domain=self.domains[0],
            domains=", ".join(self.domains),
            uid=nobody.pw_uid,
            gid=nobody.pw_gid,
            local_recipient_maps="" if self.accept_unknown else "$virtual_mailbox_maps",
        )
        main += "".join(f"{key} = {value}\n" for key, value in self.settings.items())
        (folder / "etc" / "main.cf").write_text(main)
        (folder / "etc" / "master.cf").write_text(_MASTER_CF.format(port=self.port))
        base = folder / "mail"
        table = "".join(f"{a} {_maildir_in(folder, a).relative_to(base)}/\n" for a in self.mailboxes)
        (folder / "etc" / "mailboxes").write_text(table)
        for address in self.mailboxes:
            self._make_maildir(_maildir_in(folder, address), nobody.pw_uid, nobody.pw_gid)
        # Postfix waits (in 300 ms steps) until a config file is older than the current second,
        # in case it is still being written: written just now, each start took 2-4 s more.
        settled = time.time() - 10
        for written in (folder / "etc").iterdir():
            os.utime(written, (settled, settled))

    @staticmethod
    def _make_maildir(path: Path, uid: int, gid: int) -> None:
        """Made before Postfix needs it, so that a reader (mailflow, as root) never creates it
        first with folders nobody cannot write to."""
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True)
        for folder in (path.parent.parent, path.parent, path, *(path / s for s in ("cur", "new", "tmp"))):
            os.chown(folder, uid, gid)

    def _postfix_run(self, command: str) -> None:
        assert self._dir is not None
        done = subprocess.run(
            [self._postfix, "-c", str(self._dir / "etc"), command], check=False, capture_output=True, text=True
        )
        if done.returncode != 0:
            tail = self.log_text[-2000:]
            raise RuntimeError(f"postfix {command} exited {done.returncode}: {done.stderr.strip()}\n{tail}")

    def _wait_for_greeting(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as s:
                    if s.recv(100).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"postfix did not greet on {self.host}:{self.port} within 10 s:\n{self.log_text[-2000:]}"
                )
            time.sleep(0.02)


def _maildir_in(folder: Path, address: str) -> Path:
    local, domain = address.split("@")
    return folder / "mail" / domain / local / "Maildir"


def _master_pid(folder: Path) -> int | None:
    try:
        return int((folder / "queue" / "pid" / "master.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait_gone(pid: int | None) -> None:
    """Until the master has exited (its children go with it); SIGKILL after 10 s."""
    if pid is None:
        return
    deadline = time.monotonic() + 10
    while running(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
        time.sleep(0.02)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
