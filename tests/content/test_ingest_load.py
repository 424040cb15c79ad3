"""Loading article files into the database (runs on SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.content.ingest import IngestError, ingest_path
from newsletter.content.models import Article

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "seeds" / "000_68e84b66394489ba.txt"
DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "ingest"
SEED_TITLE = "Is the Kursk operation still worth the cost?"
MD_TITLE = "The drone war's new front line"
NOW = datetime(2025, 1, 6, 12, 0, tzinfo=timezone.utc)

Sessions = sessionmaker[Session]


def rows(sessions: Sessions) -> list[dict[str, Any]]:
    """Every stored article as a dict of all its columns, in id order."""
    with sessions() as session:
        articles = session.scalars(select(Article).order_by(Article.id)).all()
        return [{c.key: getattr(a, c.key) for c in Article.__table__.columns} for a in articles]


def count(sessions: Sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Article)) or 0


def test_seed_file_becomes_one_article(sessions: Sessions) -> None:
    report = ingest_path(sessions, SEED, now=NOW)
    assert (report.added, report.updated, report.unchanged, report.errors) == ([SEED_TITLE], [], [], [])
    [row] = rows(sessions)
    assert row["title"] == SEED_TITLE
    assert row["author"] == "Svitlana Morenets"
    assert row["published_at"] == NOW
    assert row["image_credit"] == "Getty Images"
    assert len(row["paragraphs"]) == 8
    assert row["pull_quotes"] == ["The past month has been Putin’s costliest yet"]
    assert row["author_bio"].startswith("Svitlana Morenets is a Ukrainian journalist")
    assert row["source"] == str(SEED.resolve())
    assert len(row["uid"]) == 64 and len(row["content_hash"]) == 64


def test_reingest_changes_nothing(sessions: Sessions) -> None:
    ingest_path(sessions, SEED, now=NOW)
    before = rows(sessions)
    report = ingest_path(sessions, SEED, now=NOW + timedelta(days=7))
    assert (report.added, report.updated, report.unchanged) == ([], [], [SEED_TITLE])
    assert rows(sessions) == before  # same row, same fields, same published_at


def test_changed_file_is_updated_in_place(sessions: Sessions, tmp_path: Path) -> None:
    path = tmp_path / "article.txt"
    shutil.copy(SEED, path)
    ingest_path(sessions, path, now=NOW)
    [before] = rows(sessions)
    path.write_text(path.read_text(encoding="utf-8").replace("belives", "believes"), encoding="utf-8")

    report = ingest_path(sessions, path, now=NOW + timedelta(days=1))
    assert (report.added, report.updated, report.unchanged) == ([], [SEED_TITLE], [])
    [after] = rows(sessions)
    assert (after["id"], after["uid"], after["published_at"]) == (before["id"], before["uid"], NOW)
    assert after["content_hash"] != before["content_hash"]
    assert "The Ukrainian command believes" in after["paragraphs"][-1]


def test_markdown_date_is_the_published_time(sessions: Sessions) -> None:
    report = ingest_path(sessions, DATA / "drone-war.md", now=NOW)
    assert report.added == [MD_TITLE]
    [row] = rows(sessions)
    assert row["published_at"] == datetime(2024, 12, 20, 8, 30, tzinfo=timezone.utc)
    assert row["url"] == "https://example.org/2024/12/drone-war"
    assert "<script>alert(1)</script>" in row["paragraphs"]


def test_html_is_stored_as_literal_text(sessions: Sessions) -> None:
    ingest_path(sessions, DATA / "html-in-text.txt", now=NOW)
    [row] = rows(sessions)
    assert row["title"] == "When <b>markup</b> appears in an article"
    assert row["paragraphs"][0] == "<script>alert(1)</script>"


def test_directory_with_bad_files_ingests_the_good_ones(sessions: Sessions, tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    (folder / "more").mkdir(parents=True)
    shutil.copy(SEED, folder / "a-seed.txt")
    shutil.copy(DATA / "drone-war.md", folder / "more" / "b-drones.md")
    (folder / "c-corrupt.txt").write_bytes(b"Jo Bloggs\n\nTitle\n\n\xff\xfe\xfa broken bytes\n")
    (folder / "d-empty.md").write_bytes(b"")
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")  # not an article file: ignored
    (folder / ".hidden.md").write_text("---\ntitle: Hidden\n---\nBody.\n")  # dot file: ignored
    calls: list[tuple[int, int]] = []

    report = ingest_path(sessions, folder, now=NOW, progress=lambda done, total: calls.append((done, total)))
    assert report.added == [SEED_TITLE, MD_TITLE]
    assert [name for name, _ in report.errors] == ["c-corrupt.txt", "d-empty.md"]
    assert "not UTF-8" in report.errors[0][1]
    assert "empty" in report.errors[1][1]
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert count(sessions) == 2

    again = ingest_path(sessions, folder, now=NOW + timedelta(days=1))
    assert (again.added, again.updated, again.unchanged) == ([], [], [SEED_TITLE, MD_TITLE])
    assert count(sessions) == 2


def test_too_long_title_is_a_file_error(sessions: Sessions, tmp_path: Path) -> None:
    # PostgreSQL would refuse it mid-transaction; both databases report it as a file error.
    (tmp_path / "long.txt").write_text(f"Jo\n\n{'x' * 501}\n\nBody.\n")
    (tmp_path / "ok.txt").write_text("Jo\n\nShort title\n\nBody.\n")
    report = ingest_path(sessions, tmp_path, now=NOW)
    assert report.added == ["Short title"]
    assert report.errors == [("long.txt", "the title is longer than 500 characters")]


def test_same_title_by_another_author_is_another_article(sessions: Sessions, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Jo\n\nSame title\n\nBody.\n")
    (tmp_path / "b.txt").write_text("Sam\n\nSame title\n\nBody.\n")
    assert ingest_path(sessions, tmp_path, now=NOW).added == ["Same title", "Same title"]
    assert count(sessions) == 2


def test_missing_path_is_a_clear_error(sessions: Sessions, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(IngestError, match="no such file or directory") as caught:
        ingest_path(sessions, missing)
    assert caught.value.path == missing
    assert str(missing) in str(caught.value)


def test_unsupported_file_named_explicitly_is_a_clear_error(sessions: Sessions, tmp_path: Path) -> None:
    path = tmp_path / "article.html"
    path.write_text("<p>hi</p>")
    with pytest.raises(IngestError, match="not an article file"):
        ingest_path(sessions, path)
    assert count(sessions) == 0


def test_default_now_is_current_utc(sessions: Sessions) -> None:
    start = datetime.now(timezone.utc)
    ingest_path(sessions, SEED)
    [row] = rows(sessions)
    slack = timedelta(seconds=1)
    assert start - slack <= row["published_at"] <= datetime.now(timezone.utc) + slack
