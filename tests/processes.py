"""What /proc says of a process the tests started: its children, whether it still runs, CPU it used,
which of them holds a connection; and waiting on a daemon's progress in its SQLite database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def state(pid: int) -> str | None:
    """The process's state letter ("R", "S", "Z" for dead and not yet reaped, …), None once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def running(pid: int) -> bool:
    """Alive and not a zombie (a dead child not yet reaped by whoever adopted it)."""
    return state(pid) not in (None, "Z")


def thread_cpu_seconds(native_id: int) -> float:
    """User and system CPU time one thread of this process has used (threading's native_id)."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def holder_of_connection(local_port: int, among: list[int]) -> int | None:
    """Which of the processes `among` holds the IPv4 TCP socket whose local port is `local_port`
    (a client's end of a connection, as the server sees it in its peer address)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
            inodes.add(f"socket:[{fields[9]}]")
    for pid in among:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue  # gone meanwhile
        if inodes & set(links):
            return pid
    return None


def count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def wait_until(predicate: Any, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited early with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        time.sleep(0.02)
    raise AssertionError("the daemon made no progress")


def kill_daemon_at(
    config: Path,
    db: Path,
    points: list[tuple[str, int]],
    *,
    done: tuple[str, int],
    env: dict[str, str] | None = None,
) -> int:
    """Start `mailflow run` and SIGKILL it once the query of each point counts its threshold,
    again and again, until the `done` query counts its own; how many times it was killed."""
    kills = 0
    for sql, threshold in points:
        if count(db, done[0]) >= done[1]:
            break
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "run", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_until(lambda sql=sql, threshold=threshold: count(db, sql) >= threshold, proc)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        kills += 1
    return kills
