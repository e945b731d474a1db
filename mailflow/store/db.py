"""Engine and sessions: SQLite in WAL mode by default, any SQLAlchemy URL by config."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine, select

from mailflow.errors import StoreError
from mailflow.store.storable import install, storable_json
from mailflow.store.faults import fault_of

MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T", bound=SQLModel)


def make_engine(url: str, *, synchronous: str = "FULL", busy_timeout: float = 30.0, reader: bool = False) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign keys.

    synchronous=FULL makes every commit durable before we move the mail on the server:
    with NORMAL, a power cut could lose a commit that the server already acted on.
    A `reader` (status) begins its transactions as plain reads, which another process's
    write lock does not stop in WAL mode.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
            json_serializer=storable_json,
        )
        install(engine)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide where transactions begin (so that
            # SAVEPOINTs work), and begin each with BEGIN IMMEDIATE below.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # The archiver and the pipeline write from two threads. A transaction that
            # starts as a reader and later writes cannot wait for the other writer in WAL
            # mode (SQLITE_BUSY at once); taking the write lock up front lets it wait.
            conn.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_pre_ping=True, json_serializer=storable_json)
    install(engine)
    return engine


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (creates it on an empty database)."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate the database: {exc}") from exc


def schema_status(engine: Engine) -> tuple[str | None, str | None]:
    """(current revision, newest revision) of the database."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head


def write_probe(engine: Engine) -> str | None:
    """Why the database cannot take a write now (locked by another process, read-only, gone), or None."""
    try:
        with engine.begin() as conn:  # on SQLite this takes the write lock (BEGIN IMMEDIATE), then lets go
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any driver error is the answer
        return fault_of(exc) or f"{type(exc).__name__}: {exc}"[:300]
    return None


def find_one(session: Session, model: type[T], field: str, value: Any) -> T | None:
    """The row of `model` whose `field` equals `value`: one added in this transaction and not yet
    flushed (the pipeline writes a batch at once, without autoflush), or else one in the database."""
    for obj in session.new:
        if isinstance(obj, model) and getattr(obj, field) == value:
            return obj
    return session.exec(select(model).where(getattr(model, field) == value)).first()


class Store:
    """The database: hands out sessions; the caller decides where a transaction ends."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True, busy_timeout: float = 30.0) -> Store:
        engine = make_engine(url, busy_timeout=busy_timeout)
        if migrate_schema:
            migrate(engine)
        return cls(engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()
