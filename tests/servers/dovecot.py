"""A private, throw-away Dovecot instance for tests: own config, dirs and port on 127.0.0.1.

Settings from shared/TEST-SERVERS.md, plus: any user name logs in with the one password (static
passdb), so a test takes a fresh account without a reload; the anvil auth penalty is off (else
every login from 127.0.0.1 waits 4 s after one failed login). As root, the mail processes run as
user nobody, who cannot pass pytest's 0700 temp root (every pytest start resets it to 0700), so
the sockets and mail homes then live in a private /tmp/mailflow-dovecot-* dir.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from processes import children, running
from servers.tls import make_certificate


def dovecot_binary() -> str | None:
    """The dovecot binary's path, or None (/usr/sbin is often not on a normal user's PATH)."""
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin")


_DOVECOT_CONF = """\
base_dir = {spool}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
instance_name = mailflow-test-{port}
protocols = imap
# A session's process title names its user and the command in hand ("IDLE"), for sessions().
verbose_proctitle = yes
listen = 127.0.0.1
# TLS on a second port (imaps) and STARTTLS on the first, with a certificate made for the test.
ssl = yes
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0 secs
mail_location = maildir:~/Maildir
mail_fsync = never
mailbox_idle_check_interval = 1 secs
first_valid_uid = {uid}
{login_user}
# Any user name logs in with the one password, so each test can take a fresh account.
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={spool}/mail/%u
}}
service imap-login {{
  {chroot}
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
# Without its anvil socket the auth process skips the failed-login penalty, which would delay
# every later login from 127.0.0.1 by 2-15 s after a test of a wrong password.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
  # Log what RFC 2971 ID a client sends, so a test can see that mailflow identifies itself.
  imap_id_log = *
}}
"""


class DovecotServer:
    """`dovecot -F` with config, log and state in `workdir`, sockets and mail homes in a spool.

    The spool is `workdir/spool`, or as root a private /tmp dir that stop() removes.
    """

    kind = "dovecot"

    def __init__(self, workdir: Path, password: str) -> None:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError(
                "MAILFLOW_TEST_IMAP=dovecot but dovecot is not installed (apt-get install dovecot-imapd)"
            )
        self._binary = binary
        self._doveadm = shutil.which("doveadm") or str(Path(binary).with_name("doveadm"))
        self._dir = workdir
        self._spool: Path | None = None
        self._conf = workdir / "dovecot.conf"
        self._password = password
        self._proc: subprocess.Popen[bytes] | None = None
        self.tls_port = _free_port()
        self.ca_file = workdir / "cert.pem"  # self-signed: it is its own CA

    def start(self, port: int) -> None:
        if self._spool is None:
            self._make_dirs_and_config(port)
        with open(self._dir / "dovecot.out", "ab") as out:
            self._proc = subprocess.Popen(
                [self._binary, "-F", "-c", str(self._conf)], stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        try:
            _wait_for_greeting(port, self._proc, self._dir / "dovecot.log")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._stop_process()
        spool, self._spool = self._spool, None
        if spool is not None and spool != self._dir / "spool":
            shutil.rmtree(spool, ignore_errors=True)

    def restart(self, port: int) -> None:
        self._stop_process()
        self.start(port)

    def add_user(self, user: str, password: str) -> None:
        pass  # static passdb/userdb: every name exists

    @property
    def log_text(self) -> str:
        path = self._dir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def drop_connections(self, user: str) -> None:
        self._doveadm_run("kick", user, ok=(0, 68))  # 68: "no users kicked"
        deadline = time.monotonic() + 5
        while user in self._doveadm_run("who", "-1", user).split():
            if time.monotonic() > deadline:
                raise TimeoutError(f"doveadm kick {user}: connections still open after 5 s")
            time.sleep(0.01)

    def sessions(self, user: str) -> dict[int, str]:
        """The imap processes serving `user`: pid -> the command in hand ("IDLE"), "" between commands.

        Read from the process titles of the master's children (verbose_proctitle), so that a test
        can poll it cheaply: `dovecot-<instance>/imap [user 127.0.0.1 IDLE]`.
        """
        found: dict[int, str] = {}
        if self._proc is None:
            return found
        for pid in children(self._proc.pid):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue  # ended meanwhile
            head, _, rest = title.partition(" [")
            words = rest.rstrip("]").split()
            if head.endswith("/imap") and words[:1] == [user]:
                found[pid] = " ".join(words[2:])
        return found

    def kill_sessions(self, user: str) -> list[int]:
        """SIGKILL every imap process serving `user`; returns their pids once they are gone."""
        pids = list(self.sessions(user))
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(running(pid) for pid in pids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"imap processes {pids} still run 5 s after SIGKILL")
            time.sleep(0.01)
        return pids

    def recreate_folder(self, user: str, folder: str, uidvalidity: int | None) -> None:
        """Delete and create `folder`: empty, UIDs from 1, a new UIDVALIDITY or the one given.

        doveadm gives the new folder the next UIDVALIDITY of the user's dovecot-uidvalidity
        counter; `mailbox update --uid-validity` then writes any value, an old one included,
        into the folder's dovecot-uidlist header (its `V` field), as a restore from a backup does.
        """
        self._doveadm_run("mailbox", "delete", "-u", user, folder)
        self._doveadm_run("mailbox", "create", "-u", user, folder)
        if uidvalidity is not None:
            self.set_uidvalidity(user, folder, uidvalidity)

    def set_uidvalidity(self, user: str, folder: str, value: int) -> None:
        self._doveadm_run("mailbox", "update", "-u", user, "--uid-validity", str(value), folder)

    def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the master stops its children before exiting
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _doveadm_run(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        done = subprocess.run(
            [self._doveadm, "-c", str(self._conf), *args], check=False, capture_output=True, text=True, timeout=30
        )
        if done.returncode not in ok:
            raise RuntimeError(
                f"doveadm {' '.join(args)} exited {done.returncode}: {(done.stderr or done.stdout).strip()}"
            )
        return done.stdout

    def _make_dirs_and_config(self, port: int) -> None:
        if os.geteuid() == 0:
            # Dovecot refuses uid 0 for mail processes: they run as nobody.
            nobody = pwd.getpwnam("nobody")
            uid, gid = nobody.pw_uid, nobody.pw_gid
            spool = Path(tempfile.mkdtemp(prefix="mailflow-dovecot-"))
            spool.chmod(0o755)
            (spool / "mail").mkdir()
            os.chown(spool / "mail", uid, gid)
            login_user = chroot = ""
        else:
            uid, gid = os.getuid(), os.getgid()
            spool = self._dir / "spool"
            (spool / "mail").mkdir(parents=True, exist_ok=True)
            me = pwd.getpwuid(uid).pw_name
            login_user = f"default_login_user = {me}\ndefault_internal_user = {me}"
            chroot = "chroot ="
        self._spool = spool
        make_certificate(self._dir)
        self._conf.write_text(
            _DOVECOT_CONF.format(
                dir=self._dir,
                spool=spool,
                port=port,
                uid=uid,
                gid=gid,
                password=self._password,
                login_user=login_user,
                chroot=chroot,
                tls_port=self.tls_port,
            )
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_greeting(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"dovecot exited with {proc.returncode}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"dovecot did not greet on 127.0.0.1:{port} within 10 s")
        time.sleep(0.01)
