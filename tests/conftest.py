"""Shared fixtures: Settings pointing at a temporary data dir, and a migrated database.

Every database test runs twice: on SQLite (the embedded default) and on the real PostgreSQL
named by NEWSLETTER_TEST_POSTGRES_URL (``make test`` sets it). Each test session gets its own
PostgreSQL schema, migrated once; each test starts from empty tables. SQLite is migrated once per
session into a template file that each test copies. Tests that use `client` share one web app per
test process and database kind, reset to exactly that fresh state before each (tests/shared_app.py).

NEWSLETTER_TEST_CLOCK=2026-12-05T23:05:00Z runs the session with the clock moved there (ticking;
tests/clock.py): the suite must pass at any moment.
"""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import uuid
from contextlib import contextmanager
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db.engine import make_engine, migrate, session_factory
from newsletter.services import Services
from newsletter.web import create_app
from tests.cli_runner import Run, make_run
from tests.shared_app import SharedApp, empty_postgres, sqlite_restorer, suite_settings
from tests.clock import CLOCK_ENV, mid_week, start_session_clock, travel_to
from tests.smtp_server import smtp_server as smtp_server  # noqa: F401  (the real SMTP server fixture)

POSTGRES_URL = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL", "")


def pytest_configure(config: pytest.Config) -> None:
    start_session_clock()  # NEWSLETTER_TEST_CLOCK, if set: before any test, worker or subprocess


def pytest_sessionstart(session: pytest.Session) -> None:
    # Each test builds an app, engines and sessions: hundreds of thousands of short-lived objects.
    # With the default thresholds the collector keeps rescanning every imported module's objects
    # (measured: ~40% of building the web app). Those are frozen out of collection, and the young
    # generation is collected less often; cycles are still freed.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


# Files whose tests take seconds each (real processes, real servers, chromium, big data), started
# first: with `--dist worksteal` (pyproject addopts) the other worker takes the short tests meanwhile,
# and no long test starts last to leave one worker idle until it ends. Order of the rest kept.
SLOW_FIRST = (
    "tests/integration/test_send_crash.py",
    "tests/delivery/test_send_workers.py",
    "tests/readers/test_csv_formats.py",
    "tests/mail/test_backend_plugin.py",
    "tests/integration/",
    "tests/browser/",
    "tests/delivery/test_send_parse_back.py",
    "tests/mail/test_dkim.py",
    "tests/schedule/test_cycle.py",
)


# Tests of a boundary, or of rules with no SQL of their own, run on SQLite only: the admin and
# reader pages, error mapping, the template cage, the address checks of sources, the email's
# options through the app. Their routes hold no SQL, and the rules and queries they call are
# tested on both databases in their own packages (tests/readers, tests/issues, tests/delivery,
# ...). The JSON API's core tests (tests/web/api/test_api.py, test_issues.py, ...), which scripts
# on the scale path call, keep both. This keeps `make test` within its time on two cores.
SQLITE_ONLY = (
    "tests/web/admin/", "tests/web/public/", "tests/web/test_", "tests/web/api/test_sources.py",
    "tests/test_errors.py", "tests/issues/test_design.py", "tests/issues/test_email_options.py",
    "tests/content/test_sources_safety.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    sqlite_only = [i for i in items if i.nodeid.startswith(SQLITE_ONLY) and "[postgres" in i.nodeid]
    if sqlite_only:
        config.hook.pytest_deselected(items=sqlite_only)
        dropped = set(sqlite_only)
        items[:] = [i for i in items if i not in dropped]

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.partition("::")[0]
        return next((i for i, prefix in enumerate(SLOW_FIRST) if path.startswith(prefix)), len(SLOW_FIRST))

    items.sort(key=rank)  # stable: each file's tests stay together and in order


def pytest_report_header(config: pytest.Config) -> str | None:
    if os.environ.get(CLOCK_ENV):
        return f"clock moved: {CLOCK_ENV}={os.environ[CLOCK_ENV]} (ticking from the session's start)"
    return None


@contextmanager
def own_schema(prefix: str, options: str = "") -> Iterator[str]:
    """A new schema on the local PostgreSQL, dropped at the end: the URL whose connections use it."""
    if not POSTGRES_URL:
        pytest.skip("NEWSLETTER_TEST_POSTGRES_URL is not set (make test sets it)")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}{options}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh schema on the local PostgreSQL, migrated once, dropped at the end."""
    # synchronous_commit off: a commit need not wait for its WAL flush (a test database can lose
    # its last commits in a crash, and nothing else changes); the suite waits less on the disk.
    with own_schema("t", "%20-csynchronous_commit%3Doff") as url:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of its own, not migrated (its own schema on PostgreSQL): for tests that
    move the schema down and up."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    with own_schema("m") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def mid_week_now() -> Iterator[datetime]:
    """For a test whose code reads the clock to find "this week": this process's clock at
    Wednesday noon of the current week (ticking from there); the fixture is that moment."""
    yield from travel_to(mid_week())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session (Alembic takes ~0.2 s a run); tests copy it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "newsletter.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    with sqlite3.connect(path) as conn:  # one self-contained file: no -wal beside it to copy
        conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    return path


@pytest.fixture(scope="session")
def shared_apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SharedApp]]:
    """This process's web app per database kind, built when a `client` test first needs it."""
    apps: dict[str, SharedApp] = {}
    yield apps
    for app in apps.values():
        app.close()


def shared_app(request: pytest.FixtureRequest, kind: str) -> SharedApp:
    apps: dict[str, SharedApp] = request.getfixturevalue("shared_apps")
    if kind not in apps:
        root = request.getfixturevalue("tmp_path_factory").mktemp(f"shared-{kind}")
        if kind == "sqlite":
            path = root / "newsletter.db"
            apps[kind] = SharedApp(root, f"sqlite:///{path}",
                                   sqlite_restorer(request.getfixturevalue("sqlite_template"), path))
        else:
            url = request.getfixturevalue("postgres_url")
            apps[kind] = SharedApp(root, url, lambda: empty_postgres(url))
    return apps[kind]


def shared_with(request: pytest.FixtureRequest, test: Callable[[SharedApp], bool]) -> SharedApp | None:
    """The shared app this `client` test uses (None for any other test, or one with its own settings)."""
    if "client" not in request.fixturenames:
        return None
    apps: dict[str, SharedApp] = request.getfixturevalue("shared_apps")
    return next((app for app in apps.values() if test(app)), None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if "client" in request.fixturenames:
        # A web test: the process's app, reset to a fresh database and data dir (tests/shared_app.py).
        app = shared_app(request, request.param)
        app.reset()
        yield app.database_url
        return
    if request.param == "sqlite":
        path = tmp_path / "newsletter.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    yield url


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    shared = shared_with(request, lambda app: app.database_url == database_url)
    if shared is not None:
        return shared.settings
    return suite_settings(tmp_path / "var", database_url)


@pytest.fixture
def services(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Services]:
    """Every part wired as the app wires them, on the memory backend (settings.backend)."""
    shared = shared_with(request, lambda app: app.settings is settings)
    if shared is not None:
        yield shared.services  # reset before the next test, closed at the end of the session
        return
    # The database is already migrated (the session's template or schema): Alembic's check that
    # it is at head would load every migration script again (~45 ms a test).
    services = Services.build(settings, run_migrations=False)
    yield services
    services.close()


@pytest.fixture
def client(request: pytest.FixtureRequest, services: Services) -> Iterator[TestClient]:
    """The real web app, in process: this process's app when the test uses the shared Services."""
    shared = shared_with(request, lambda app: app.services is services)
    app = shared.app if shared is not None else create_app(services)
    with TestClient(app) as client:  # a new client: no cookies from another test
        yield client


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """The real `newsletter` command in a subprocess, on its own data dir (SQLite, outbox)."""
    return make_run(tmp_path)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)

