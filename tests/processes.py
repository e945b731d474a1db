"""What /proc says of a process the tests started: its children, whether it still runs, CPU it used,
which of them holds a connection."""

from __future__ import annotations

import os
from pathlib import Path


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
