"""Shared fixtures: Settings pointing at a temporary data dir, and a migrated database.

Every database test runs twice: on SQLite (the embedded default) and on the real PostgreSQL
named by NEWSLETTER_TEST_POSTGRES_URL (``make test`` sets it). Each test session gets its own
PostgreSQL schema, migrated once; each test starts from empty tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings, load_settings
from newsletter.db.engine import make_engine, migrate, session_factory
from newsletter.db.base import Base
from newsletter.services import Services
from newsletter.web import create_app
from tests.cli_runner import Run, make_run
from tests.smtp_server import smtp_server as smtp_server  # noqa: F401  (the real SMTP server fixture)

POSTGRES_URL = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL", "")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh schema on the local PostgreSQL, migrated once, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("NEWSLETTER_TEST_POSTGRES_URL is not set (make test sets it)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'newsletter.db.engine'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        base_url="http://newsletter.test",
        from_address="The Test Briefing <briefing@example.org>",
        list_name="The Test Briefing",
        backend="memory",
        secret_key="test-secret-key",
        admin_password="test-admin-password",
        smtp_tls="none",
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    """Every part wired as the app wires them, on the memory backend (settings.backend)."""
    services = Services.build(settings)
    yield services
    services.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """The real web app, in process."""
    with TestClient(create_app(services)) as client:
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

