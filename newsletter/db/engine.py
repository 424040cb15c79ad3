"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL (scale path)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from newsletter.errors import Unavailable

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached or opened; the message says which and why."""


def make_engine(url: str) -> Engine:
    import newsletter.db.schema  # noqa: F401  (every domain's tables, before any query)

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_database_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the web app, the scheduler and a worker share one file.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    return create_engine(url, pool_pre_ping=True)


def _private_database_file(path: Path) -> None:
    """Readers' addresses live in this file: only the service's own user may read it, whatever the
    umask. SQLite gives its -wal and -shm files the database file's permissions."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file.exists() and file.stat().st_mode & 0o077:
                file.chmod(0o600)
    except OSError:  # not ours to change (read-only, another owner): SQLite reports what matters
        pass


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any error."""
    with factory() as session, session.begin():
        yield session


# The newest migration(s). A database already there is left alone without importing alembic or
# reading every migration file (0.28 s of a worker's start, measured in docs/benchmarks.md);
# tests/db/test_migration_heads.py checks this against alembic's own heads.
HEADS = frozenset({"0029"})


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration; a dead database gets a clear error."""
    try:
        with engine.connect() as conn:
            if applied(conn) == HEADS:
                return
    except OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"cannot open the database {where}: {exc.orig}") from exc
    from alembic import command

    # "heads": every branch, so migrations written side by side on one parent all apply.
    command.upgrade(alembic_config(engine), "heads")


def applied(conn: Connection) -> frozenset[str]:
    """The revisions the database is at (none for an empty one)."""
    if not inspect(conn).has_table("alembic_version"):
        return frozenset()
    return frozenset(conn.scalars(text("SELECT version_num FROM alembic_version")))
