"""GIVEN a data folder that is full or read-only (a real tmpfs, mounted for the test) WHEN mail
comes THEN the pass reports the store's failure, no message is failed or charged an attempt,
no half-written file stays behind, and the next pass after the fault is gone finishes the mail."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.tcp_proxy import TcpProxy
from sqlalchemy.engine import make_url
from builders import add_liaison, deliver, make_app, make_jpeg, make_mail
from sqlmodel import select

from mailflow.app import App
from mailflow.daemon import Daemon
from mailflow.errors import StoreError
from mailflow.store import InboundMessage
from mailflow.store.blobs import BlobStore
from mailflow.store.faults import data_probe


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KB file system of its own, so that filling it or making it read-only touches nothing else."""
    mount = tmp_path / "data"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], check=False, capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def app(tmp_path: Path, small_disk: Path) -> Iterator[App]:
    application = make_app(tmp_path, paths={"data": str(small_disk)})
    add_liaison(application)
    yield application
    application.close()


def fill(disk: Path, *, leave: int) -> Path:
    """Take all but `leave` bytes of the disk's free space."""
    stats = os.statvfs(disk)
    junk = disk / "junk"
    junk.write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return junk


def messages(app: App) -> list[InboundMessage]:
    with app.store.session() as session:
        return list(session.exec(select(InboundMessage)).all())


def leftovers(disk: Path) -> list[Path]:
    return [p for p in disk.rglob("*") if p.name.endswith(".tmp")]


def test_a_full_disk_charges_no_attempt_and_the_mail_waits_for_space(
    app: App, tmp_path: Path, small_disk: Path
) -> None:
    photo = make_jpeg(width=1200, height=900, noise=True)[:90_000]  # the raw mail fits, its photo then does not
    raw = make_mail(attachments=[("现场.jpg", photo, "image/jpeg")])
    junk = fill(small_disk, leave=len(raw) + 60_000)
    deliver(tmp_path / "Maildir", raw)
    for _ in range(app.settings.limits.max_attempts + 2):  # more failed passes than a message may have attempts
        report = Daemon(app).run_once()
        assert report.store_fault is not None and "No space left" in report.store_fault
        assert [row.state for row in messages(app)] == ["archived"]
        assert leftovers(small_disk) == []
    junk.unlink()
    report = Daemon(app).run_once()
    assert report.store_fault is None
    (row,) = messages(app)
    assert (row.state, row.attempts) == ("rejected", 1)  # the cut photo is judged on its merits, once


def test_a_read_only_data_folder_is_waited_out(app: App, tmp_path: Path, small_disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    deliver(tmp_path / "Maildir", make_mail())
    report = Daemon(app).run_once()
    assert report.store_fault is not None and "Read-only file system" in report.store_fault
    assert "not writable" in (data_probe(small_disk) or "")
    assert messages(app) == []  # nothing archived: the mail is still in the Maildir, unmarked
    assert len(list((tmp_path / "Maildir" / "new").iterdir())) == 1
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert Daemon(app).run_once().store_fault is None
    (row,) = messages(app)
    assert (row.state, row.attempts) == ("processed", 1)


def test_postgresql_going_away_under_the_daemon_is_waited_out(tmp_path: Path, pg_url: str) -> None:
    """GIVEN mailflow on PostgreSQL through a relay WHEN the relay drops every connection and refuses
    new ones (a server restart as clients see it) THEN the pass reports it, no message is failed or
    charged, and once the server is back the waiting mail is processed."""
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    app = make_app(tmp_path, database={"url": url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)})
    try:
        add_liaison(app)
        daemon = Daemon(app)
        deliver(tmp_path / "Maildir", make_mail(message_id="<before@x>"))
        assert daemon.run_once().store_fault is None
        proxy.cut()
        deliver(tmp_path / "Maildir", make_mail(message_id="<during@x>"))
        for _ in range(app.settings.limits.max_attempts + 1):
            assert daemon.run_once().store_fault is not None
        proxy.restore()
        assert daemon.run_once().store_fault is None
        rows = {row.message_id: (row.state, row.attempts) for row in messages(app)}
        assert rows == {"before@x": ("processed", 1), "during@x": ("processed", 1)}
    finally:
        app.close()
        proxy.stop()


def test_a_batch_that_runs_out_of_space_halfway_leaves_nothing_of_itself(small_disk: Path) -> None:
    blobs = BlobStore(small_disk / "raw", suffix=".eml")
    fill(small_disk, leave=150_000)
    batch = [os.urandom(40_000) for _ in range(8)]  # the first few fit, the rest do not
    with pytest.raises(StoreError, match="No space left"):
        blobs.put_many(batch)
    assert leftovers(small_disk) == []
    assert [p for p in (small_disk / "raw").rglob("*") if p.is_file()] == []  # no file of a batch that failed
