"""The embedded database, its WAL and the outbox hold readers' addresses and personal links: other
users of the machine cannot read them, whatever the umask the service was started with."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from newsletter.config import load_settings
from newsletter.db.engine import make_engine, migrate
from newsletter.mail.backends.base import OutgoingMessage
from newsletter.mail.backends.outbox import OutboxBackend


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default, which leaves new files world-readable
    yield
    os.umask(old)


def _others_can_read(path: Path) -> bool:
    return bool(stat.S_IMODE(path.stat().st_mode) & 0o077)


@pytest.mark.usefixtures("open_umask")
def test_database_and_its_wal_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    settings = load_settings(data_dir=data_dir, database_url="")
    engine = make_engine(settings.database)
    migrate(engine)
    with engine.connect() as conn:  # keeps the WAL open while we look
        conn.execute(text("SELECT count(*) FROM subscriber"))
        files = sorted(data_dir.iterdir())
        assert data_dir / "newsletter.db-wal" in files
        assert not _others_can_read(data_dir)
        assert [f.name for f in files if _others_can_read(f)] == []
    engine.dispose()


@pytest.mark.usefixtures("open_umask")
def test_an_existing_readable_database_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    db.touch(mode=0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert not _others_can_read(db)


@pytest.mark.usefixtures("open_umask")
def test_outbox_is_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var", database_url="sqlite://", secret_key="k", admin_password="p")
    backend = OutboxBackend(settings)
    message = OutgoingMessage("list@example.org", "reader@example.org", b"Subject: hi\r\n\r\nhello\r\n", "<m1@example.org>")
    [result] = backend.send([message])
    assert result.status.value == "sent"
    assert not _others_can_read(settings.outbox_path)
    assert [p.name for p in settings.outbox_path.iterdir() if _others_can_read(p)] == []
