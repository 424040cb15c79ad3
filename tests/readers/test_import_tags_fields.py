"""The import reads a ``tags`` column (comma- or semicolon-separated) as tags and columns named
after defined fields as typed field values; a bad value rejects its row with the reason."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.fields import define_field, fields_of
from newsletter.audience.tags import tags_of
from newsletter.readers.csv_formats import CsvSource
from newsletter.readers.importer import import_csv
from newsletter.readers.models import Subscriber

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "import"


def define(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        define_field(session, "age", "Age", "number")
        define_field(session, "renewal", "Renewal", "date")
        define_field(session, "paid", "Paid", "bool")
        define_field(session, "city", "City", "text")


def readers(sessions: sessionmaker[Session]) -> dict[str, tuple[list[str], dict[str, object]]]:
    with sessions() as session:
        ids = dict(session.execute(select(Subscriber.email, Subscriber.id)).all())
        tags, fields = tags_of(session, list(ids.values())), fields_of(session, list(ids.values()))
    return {email: (tags[i], fields[i]) for email, i in ids.items()}


def test_tags_and_fields_are_imported_typed(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    define(sessions)
    path = tmp_path / "list.csv"
    path.write_text(
        "email,name,Tags,AGE,renewal,paid,city,shoe size\n"
        "ana@example.org,Ana,\"VIP, press; VIP\",42,2026-07-01,yes,Leeds,38\n"
        "bob@example.org,Bob,,,,,,\n"
        "cy@example.org,Cy,reader,forty,2026-07-01,no,York,40\n"
        "di@example.org,Di,reader,30,01/07/2026,no,York,40\n"
        "ed@example.org,Ed,reader,30,2026-07-01,maybe,York,40\n"
        "fay@example.org,Fay,\"a,b\",1e3,2026-12-31,N,,\n",
        encoding="utf-8")
    report = import_csv(sessions, path, confirmed=True)
    assert (report.added, report.invalid) == (3, 3)
    assert [(r.row, r.email, r.reason) for r in report.rejected] == [
        (4, "cy@example.org", "age: 'forty' is not a number"),
        (5, "di@example.org", "renewal: '01/07/2026' is not a date (YYYY-MM-DD)"),
        (6, "ed@example.org", "paid: 'maybe' is not yes or no"),
    ]
    assert report.mapping["tags"] == "Tags (column 3)" and report.mapping["field age"] == "AGE (column 4)"
    # A column that is no field's key is left out, and the report says so.
    assert any("not imported" in note and "shoe size" in note for note in report.notes)
    assert readers(sessions) == {
        "ana@example.org": (["press", "vip"], {"age": 42.0, "city": "Leeds", "paid": True, "renewal": "2026-07-01"}),
        "bob@example.org": ([], {}),
        "fay@example.org": (["a", "b"], {"age": 1000.0, "paid": False, "renewal": "2026-12-31"}),
    }


def test_a_dry_run_rejects_the_same_rows_and_writes_nothing(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    define(sessions)
    path = tmp_path / "list.csv"
    path.write_text("email,tags,age\nana@example.org,vip,x\nbob@example.org,vip,3\n", encoding="utf-8")
    report = import_csv(sessions, path, dry_run=True)
    assert (report.added, report.invalid, report.rejected[0].reason) == (1, 1, "age: 'x' is not a number")
    assert readers(sessions) == {}


def test_a_bad_tag_rejects_its_row(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email,tags\nana@example.org," + "x" * 60 + "\nbob@example.org,fine\n", encoding="utf-8")
    report = import_csv(sessions, path, confirmed=True)
    assert report.added == 1 and "a tag is at most 50 characters" in report.rejected[0].reason
    assert readers(sessions) == {"bob@example.org": (["fine"], {})}


def test_mailchimp_tags_lose_their_quotes(sessions: sessionmaker[Session]) -> None:
    import_csv(sessions, DATA / "mailchimp_subscribed.csv", confirmed=True)
    with CsvSource.open(DATA / "mailchimp_subscribed.csv") as source:
        first = next(source.rows())
    assert readers(sessions)[first.email][0] == ["readers"]


def test_existing_readers_are_kept_as_they_are(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email,tags\nana@example.org,old\n", encoding="utf-8")
    import_csv(sessions, path, confirmed=True)
    path.write_text("email,tags\nana@example.org,new\n", encoding="utf-8")
    assert import_csv(sessions, path, confirmed=True).existing == 1
    assert readers(sessions) == {"ana@example.org": (["old"], {})}
