"""GIVEN 10 or 200 adopted submissions WHEN the site and the journal read them THEN the database sees the
same number of statements: nothing is asked once per article, unit, liaison or photo."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from adopted import seed
from builders import add_liaison, make_app
from sqlalchemy import event

from mailflow.app import App
from mailflow.publish import (
    JOURNAL,
    SITE,
    Masthead,
    Output,
    Period,
    Photos,
    adopted,
    build_journal,
    build_site,
    month_bounds,
)


@contextmanager
def counted(app: App) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(app.store.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(app.store.engine, "before_cursor_execute", count)


def build_both(app: App, out: Path) -> tuple[int, int, int]:
    """(statements, site articles, journal articles) of reading and building both outlets."""
    zone = app.settings.chamber.zone
    masthead, photos = Masthead("成都市机械制造业商会", zone, "x.cn"), Photos(app.settings.data_dir / "attachments")
    with counted(app) as statements, app.store.session() as session:
        site = adopted(session, SITE)
        journal = adopted(
            session, JOURNAL, since=month_bounds(2026, 12, zone)[0], until=month_bounds(2026, 12, zone)[1]
        )
    build_site(site, masthead, photos, Output(out / "site", "site"))
    build_journal(journal, masthead, photos, Period(2026, 12), Output(out / "journal", "journal-2026-12"))
    return len(statements), len(site), len(journal)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    """The app on SQLite, and on PostgreSQL (its own schema): the same reads must work and not grow on both."""
    database = {} if request.param == "sqlite" else {"url": request.getfixturevalue("pg_url")}
    application = make_app(tmp_path, database=database)
    add_liaison(application)
    yield application
    application.close()


@pytest.mark.usefixtures("typesetting")
def test_the_statements_do_not_grow_with_the_submissions(store_app: App, tmp_path: Path) -> None:
    seed(store_app, 10, start=datetime(2026, 12, 1, tzinfo=UTC))
    few = build_both(store_app, tmp_path / "few")
    seed(store_app, 190, start=datetime(2026, 12, 2, tzinfo=UTC))
    many = build_both(store_app, tmp_path / "many")
    assert (few[1:], many[1:]) == ((10, 10), (200, 200))
    # Two reads per outlet: the submissions with their names, and their photos (and SQLite's BEGIN).
    assert many[0] == few[0] == (5 if store_app.store.engine.dialect.name == "sqlite" else 4)
