"""One web app per test process and database, reset to a fresh state before each test.

Building the app costs ~0.2 s (FastAPI analyses every route's signature, Jinja compiles each page's
template on first use) and ~700 tests ask for `client`. Those tests get this app instead of a new
one; before each of them everything the app and its Services keep is put back as new: the
database (a copy of the migrated template, or the PostgreSQL tables emptied), the data dir (as it
was right after the build), the mail backend, the per-app rate limits, and the Services fields.
Settings stay the same object: they are compared with the build's values at each reset, so a test
that changed them gets a rebuilt app instead of a changed one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from newsletter.accounts.users import AttemptLimiter
from newsletter.config import Settings, load_settings
from newsletter.db.base import Base
from newsletter.db.engine import make_engine
from newsletter.mail.backends.registry import load_backend
from newsletter.services import Services
from newsletter.web import create_app
from newsletter.web.ip_limit import SlidingWindow


def suite_settings(data_dir: Path, database_url: str) -> Settings:
    """The settings every database test gets (tests/conftest.py `settings`)."""
    return load_settings(
        data_dir=data_dir,
        database_url=database_url,
        base_url="http://newsletter.test",
        from_address="The Test Briefing <briefing@example.org>",
        list_name="The Test Briefing",
        backend="memory",
        secret_key="test-secret-key",
        admin_password="test-admin-password",
        smtp_tls="none",
    )


def empty_postgres(url: str) -> None:
    """Every table emptied and every sequence restarted: a freshly migrated schema."""
    engine = make_engine(url)
    with engine.begin() as conn:
        # DELETE, children first, and restarting the sequences: on these near-empty tables it takes
        # ~18 ms where TRUNCATE ... RESTART IDENTITY took ~120 ms (new files for every table).
        sequences = conn.scalars(text(
            "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = current_schema()"
        )).all()
        statements = [f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables)]
        statements += [f'ALTER SEQUENCE "{name}" RESTART' for name in sequences]
        # The first list is data the migration made (0023): a freshly migrated schema has it.
        statements.append("INSERT INTO mailing_list (name, slug, created_at) "
                          "VALUES ('The Weekly Briefing', 'the-weekly-briefing', now() at time zone 'utc')")
        conn.exec_driver_sql("; ".join(statements))
    engine.dispose()


def stateful_parts(app: FastAPI) -> list[AttemptLimiter | SlidingWindow]:
    """The in-memory rate limits the app's routes hold (found through their closures)."""
    found: dict[int, AttemptLimiter | SlidingWindow] = {}
    seen: set[int] = set()

    def visit(value: Any, depth: int) -> None:
        if id(value) in seen or depth > 6:
            return
        seen.add(id(value))
        if isinstance(value, (AttemptLimiter, SlidingWindow)):
            found[id(value)] = value
            return
        if callable(value) and hasattr(value, "__self__"):  # a bound method: its object
            visit(value.__self__, depth + 1)
        for cell in getattr(value, "__closure__", None) or ():
            visit(cell.cell_contents, depth + 1)
        if type(value).__module__.startswith("newsletter."):
            for part in vars(value).values() if hasattr(value, "__dict__") else ():
                visit(part, depth + 1)

    def routes(router: Any) -> Iterator[Any]:
        for route in router.routes:
            # An included router (kept whole by FastAPI), or a mounted app (the JSON API).
            for inner in (getattr(route, "original_router", None), getattr(route, "app", None)):
                if hasattr(inner, "routes"):
                    yield from routes(inner)
            yield route

    for route in routes(app):
        visit(getattr(route, "endpoint", None), 0)
        for dependency in getattr(route, "dependencies", ()):
            visit(dependency.dependency, 0)
    return list(found.values())


@dataclass
class SharedApp:
    """The app and Services of one database kind in this test process."""

    root: Path
    database_url: str
    restore_database: Callable[[], None]
    settings: Settings = field(init=False)
    services: Services = field(init=False)
    app: FastAPI = field(init=False)

    def __post_init__(self) -> None:
        self._build()

    def _build(self) -> None:
        data_dir = self.root / "var"
        shutil.rmtree(data_dir, ignore_errors=True)
        self.restore_database()
        self.settings = suite_settings(data_dir, self.database_url)
        self.services = Services.build(self.settings)
        self.app = create_app(self.services)
        self._values = self.settings.model_dump()
        self._fields = dict(vars(self.services))
        self._limits = stateful_parts(self.app)
        # Both limits are per app instance; if a refactor hides one from the walk, say so.
        kinds = sorted(type(part).__name__ for part in self._limits)
        assert kinds == ["AttemptLimiter", "SlidingWindow"], f"the app's in-memory limits changed: {kinds}"
        # What the build left in the data dir (today nothing: it is made when first needed).
        self._pristine: Path | None = None
        if data_dir.exists():
            self._pristine = self.root / "pristine-var"
            shutil.rmtree(self._pristine, ignore_errors=True)
            shutil.copytree(data_dir, self._pristine, symlinks=True)

    def reset(self) -> None:
        """Everything the next test can see, as a new app on a new database would have it."""
        if self.settings.model_dump() != self._values:
            self.services.close()
            self._build()
            return
        vars(self.services).update(self._fields)  # a test may have swapped a part
        self.services.store.close()  # the connection record() holds goes back to the pool first
        self.services.engine.dispose()  # no pooled connection to the old database survives
        self.restore_database()
        data_dir = self.settings.data_dir
        shutil.rmtree(data_dir, ignore_errors=True)
        if self._pristine is not None:
            shutil.copytree(self._pristine, data_dir, symlinks=True)
        backend = self.services.backend  # held by Subscriptions and the routes: renewed in place
        vars(backend).clear()
        vars(backend).update(vars(load_backend(self.settings)))
        for part in self._limits:
            fresh: AttemptLimiter | SlidingWindow
            if isinstance(part, AttemptLimiter):
                fresh = AttemptLimiter(max_attempts=part.max_attempts, window=part.window)
            else:
                fresh = SlidingWindow(part.limit, part.window_seconds, part._clock)
            vars(part).update(vars(fresh))

    def close(self) -> None:
        self.services.close()


def sqlite_restorer(template: Path, path: Path) -> Callable[[], None]:
    def restore() -> None:
        # A new file (not rewritten in place), and no -wal or -shm of the old one beside it.
        for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        copy = path.with_name(path.name + ".new")
        shutil.copyfile(template, copy)
        os.replace(copy, path)
    return restore

