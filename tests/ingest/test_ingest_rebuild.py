"""A mailbox rebuilt or restored on a real Dovecot: nothing stored is processed again, and no new mail is lost.

The folder is rebuilt with doveadm (servers/imap.py `recreate_folder`): `mailbox delete` and
`mailbox create` give it UIDs from 1 and a new UIDVALIDITY, and `mailbox update --uid-validity`
gives it back an old UIDVALIDITY, as a restore from a backup does. INBOX cannot be deleted, so
these tests watch another folder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from test_ingest_imap import MarkFails, box, new_app, rows, submission

from mailflow.daemon import Daemon
from mailflow.store import FolderState

__all__ = ["box"]  # the fixture, shared with test_ingest_imap

FOLDER = "Liaison"
BEFORE_START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # the tests' clock starts on 24 November
AFTER_START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a rebuild that copies mail back dates it anew


@pytest.fixture(autouse=True)
def _dovecot(box: Any) -> None:
    if box.kind != "dovecot":
        pytest.skip("the folder is rebuilt with doveadm")
    box.create_folder(FOLDER)


def processed(app: Any) -> list[str | None]:
    return sorted(r.message_id for r in rows(app) if r.state == "processed")


def test_a_folder_restored_under_an_old_uidvalidity_archives_its_new_mail_once(tmp_path: Path, box: Any) -> None:
    """GIVEN mail archived under a UIDVALIDITY, then the folder rebuilt under a new one (seen by a pass)
    WHEN the folder is restored under the old UIDVALIDITY with UIDs from 1, other messages now at UIDs
    that stored mail had THEN each new message is archived and processed once, the restored copy of
    stored mail is not processed again, and no pass fails."""
    app = new_app(tmp_path, box, folders=[FOLDER])
    daemon = Daemon(app)
    for n in (1, 2):
        box.append(submission(n), folder=FOLDER)
    assert daemon.run_once().processed == 2
    old = box.uidvalidity(FOLDER)
    box.recreate_folder(FOLDER)
    assert daemon.run_once().errors == []
    box.recreate_folder(FOLDER, uidvalidity=old)
    for n in (1, 3, 4):  # 1 is back from the backup at its own UID; 3 takes the UID that 2 had
        box.append(submission(n), folder=FOLDER)
    assert (box.uidvalidity(FOLDER), box.uids(FOLDER)) == (old, [1, 2, 3])

    report = daemon.run_once()
    assert (report.errors, report.processed) == ([], 2)
    assert daemon.run_once().errors == []
    assert processed(app) == [f"sub-{n}@hongda-machinery.cn" for n in (1, 2, 3, 4)]
    assert box.uids(FOLDER) == [], "the new mail is moved once processed, the copy as a duplicate"
    with app.store.session() as session:
        (folder,) = session.exec(select(FolderState)).all()
    assert (folder.uidvalidity, folder.last_error) == (old, None)
    app.close()


def test_a_move_owed_from_before_a_rebuild_never_takes_other_mail_at_that_uid(tmp_path: Path, box: Any) -> None:
    """GIVEN a message archived whose move never happened (the connection died before it, twice), then
    the folder rebuilt WHEN the folder is restored under the old UIDVALIDITY with new mail at that UID
    THEN the new mail is archived and processed, not moved away unread as the owed move."""
    app = new_app(tmp_path, box, folders=[FOLDER])
    source, archiver = app.sources[0]
    app.sources[0] = (MarkFails(source, times=2), archiver)  # type: ignore[assignment]
    daemon = Daemon(app)
    box.append(submission(1), folder=FOLDER)
    assert daemon.run_once().processed == 1
    assert [r.server_marked for r in rows(app)] == [False]
    old = box.uidvalidity(FOLDER)
    box.recreate_folder(FOLDER)
    assert daemon.run_once().errors == []
    box.recreate_folder(FOLDER, uidvalidity=old)
    box.append(submission(2), folder=FOLDER)

    assert daemon.run_once().processed == 1
    assert processed(app) == ["sub-1@hongda-machinery.cn", "sub-2@hongda-machinery.cn"]
    app.close()


def test_mail_skipped_on_the_first_start_stays_untouched_after_a_rebuild(tmp_path: Path, box: Any) -> None:
    """GIVEN mail skipped by the safe first run WHEN the folder is rebuilt (a new UIDVALIDITY) and the
    mail copied back with a new INTERNALDATE, beside new mail THEN the old mail stays in the folder,
    recorded as skipped again, never processed; only the new mail is processed and moved."""
    for n in (1, 2):
        box.append(submission(n), folder=FOLDER, date=BEFORE_START)
    app = new_app(tmp_path, box, folders=[FOLDER], start_from="first_start")
    daemon = Daemon(app)
    assert daemon.run_once().ingest.skipped == 2
    box.recreate_folder(FOLDER)
    for n in (1, 2):
        box.append(submission(n), folder=FOLDER, date=AFTER_START)
    box.append(submission(3), folder=FOLDER, date=AFTER_START)

    report = daemon.run_once()
    assert (report.errors, report.processed) == ([], 1)
    assert box.uids(FOLDER) == [1, 2], "the skipped mail is where it was"
    assert processed(app) == ["sub-3@hongda-machinery.cn"]
    assert [r.state for r in rows(app) if r.message_id != "sub-3@hongda-machinery.cn"] == ["skipped"] * 4
    app.close()


def test_mail_skipped_on_the_first_start_stays_untouched_when_restored_at_its_own_uids(
    tmp_path: Path, box: Any
) -> None:
    """GIVEN mail skipped by the safe first run, then the folder rebuilt (seen by a pass) WHEN it is
    restored under its old UIDVALIDITY with that mail at its own UIDs, dated anew, beside new mail
    THEN the old mail stays in the folder and is not stored again; only the new mail is processed."""
    for n in (1, 2):
        box.append(submission(n), folder=FOLDER, date=BEFORE_START)
    app = new_app(tmp_path, box, folders=[FOLDER], start_from="first_start")
    daemon = Daemon(app)
    assert daemon.run_once().ingest.skipped == 2
    old = box.uidvalidity(FOLDER)
    box.recreate_folder(FOLDER)
    assert daemon.run_once().errors == []
    box.recreate_folder(FOLDER, uidvalidity=old)
    for n in (1, 2, 3):
        box.append(submission(n), folder=FOLDER, date=AFTER_START)

    report = daemon.run_once()
    assert (report.errors, report.processed) == ([], 1)
    assert box.uids(FOLDER) == [1, 2], "the skipped mail is where it was"
    assert [r.state for r in rows(app)] == ["skipped", "skipped", "processed"]
    app.close()
