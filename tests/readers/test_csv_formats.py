"""Reading real-world subscriber exports: each layout detected and mapped, and every kind of bad
input reported per row (the row number a spreadsheet shows, the address, the reason)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.readers.addresses import InvalidAddress, normalise_email
from newsletter.readers.csv_formats import AddressCheck, CsvSource, ImportFileError
from newsletter.readers.importer import MAX_REASONS, ImportReport, import_csv, import_preview
from newsletter.readers.suppression import SuppressionList

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "import"


def reasons(report: ImportReport) -> dict[int, tuple[str, str]]:
    return {r.row: (r.email, r.reason) for r in report.rejected}


def mapped(name: str) -> list[tuple[int, str, str]]:
    with CsvSource.open(DATA / name) as source:
        return [(r.row, r.email, r.name) for r in source.rows()]


def test_mailchimp_audience_export_is_detected_and_mapped() -> None:
    with CsvSource.open(DATA / "mailchimp_subscribed.csv") as source:
        assert source.layout.key == "mailchimp" and source.layout.label == "Mailchimp audience export"
        assert source.layout.mapping == {"email": "Email Address (column 1)",
                                         "name": "First Name (column 2) + Last Name (column 3)",
                                         "tags": "TAGS (column 20)"}
        rows = list(source.rows())
    # First + Last name; a quoted newline inside NOTES keeps the rows' spreadsheet numbering.
    assert (rows[0].row, rows[0].email, rows[0].name) == (2, "marta.quintero@example.org", "Marta Quintero")
    assert [(r.row, r.name) for r in rows[5:7]] == [(7, "Lena Schmidt"), (8, "Ahmed Nasser")]
    assert rows[-1].row == 13 and len(rows) == 12


@pytest.mark.parametrize(("name", "reason"), [
    ("mailchimp_unsubscribed.csv", "unsubscribed in Mailchimp: goes onto the suppression list"),
    ("mailchimp_cleaned.csv", "cleaned (bounced) in Mailchimp: goes onto the suppression list"),
])
def test_mailchimp_unsubscribed_and_cleaned_rows_are_to_be_suppressed(name: str, reason: str) -> None:
    with CsvSource.open(DATA / name) as source:
        assert source.layout.key == "mailchimp" and "unsubscribed or cleaned" in source.layout.label
        rows = list(source.rows())
    assert all(r.suppress == reason for r in rows) and not any(r.skip for r in rows)


def test_substack_export_skips_disabled_email() -> None:
    with CsvSource.open(DATA / "substack.csv") as source:
        assert source.layout.key == "substack"
        rows = {r.row: r for r in source.rows()}
    assert rows[4].skip == "email disabled in Substack" and rows[4].email == "ines.ferreira@example.pt"
    assert rows[2].skip is None and rows[2].name == ""


def test_ghost_export_skips_readers_not_subscribed_to_emails() -> None:
    with CsvSource.open(DATA / "ghost.csv") as source:
        assert source.layout.key == "ghost" and source.layout.mapping["name"] == "name (column 3)"
        rows = {r.row: r for r in source.rows()}
    assert rows[4].skip == "not subscribed to emails in Ghost"
    assert rows[3].name == "Mateo García" and rows[3].skip is None
    assert rows[11].name == "Zoë Adams"  # after a note with a quoted newline


def test_plain_files_any_column_order_and_case(tmp_path: Path) -> None:
    assert mapped("plain.csv")[0] == (2, "anna.berg@example.org", "Anna Berg")
    path = tmp_path / "people.csv"
    path.write_text("Last_Name,EMAIL,First_Name\nDahl,carl@example.org,Carl\n", encoding="utf-8")
    with CsvSource.open(path) as source:
        assert source.layout.key == "plain"
        assert [(r.email, r.name) for r in source.rows()] == [("carl@example.org", "Carl Dahl")]
    only = tmp_path / "only.csv"
    only.write_text("Email\nana@example.org\n", encoding="utf-8")
    with CsvSource.open(only) as source:
        assert [(r.row, r.email, r.name) for r in source.rows()] == [(2, "ana@example.org", "")]


def test_a_file_without_a_header_is_read_as_email_and_name_and_said_so() -> None:
    with CsvSource.open(DATA / "headerless.csv") as source:
        assert source.layout.key == "headerless"
        assert source.notes == ["the file has no header row (row 1 holds an address): column 1 is read as the "
                                "address and column 2 as the name"]
        assert [(r.row, r.email, r.name) for r in source.rows()][:2] == [
            (1, "anna.berg@example.org", "Anna Berg"), (2, "bo.ek@example.org", "Bo Ek")]


@pytest.mark.parametrize(("name", "label", "note"), [
    ("utf8_bom.csv", "UTF-8 (with BOM)", None),
    ("utf16.csv", "UTF-16", None),
    ("cp1252.csv", "Windows-1252", "the file is not UTF-8 (first non-UTF-8 byte on line 2); it was read as "
                                   "Windows-1252: check accented names in the preview"),
])
def test_encodings_are_decided_by_a_real_decoder(name: str, label: str, note: str | None) -> None:
    with CsvSource.open(DATA / name) as source:
        assert source.encoding.label == label and source.encoding.note == note
        names = [r.name for r in source.rows()]
    assert {"utf8_bom.csv": ["Zoë"], "utf16.csv": ["Søren Kierkegaard", "Łucja Nowak"],
            "cp1252.csv": ["René Müller", "François “Frank”"]}[name] == names


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the file is empty"),
    (b"\xef\xbb\xbf\r\n\r\n", "the file is empty"),
    (b"first,second\nfoo,bar\n", "no email column: row 1 holds 'first', 'second'"),
    ("email\nana@example.org\n".encode("utf-16-le"), "looks like UTF-16 without a byte-order mark"),
    (b"email\nana@example.org,\x81\x8d\n", "neither UTF-8 nor Windows-1252 (first bad byte at line 2)"),
])
def test_files_that_cannot_be_read_get_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CsvSource.open(path)


def test_the_fast_address_check_agrees_with_email_validator() -> None:
    check = AddressCheck()
    for raw in ("Ana@Example.ORG", "o'reilly+news@mail.example.ie", "a.b-c_d@sub.example.co.uk", "x@example.org",
                "ana@EXAMPLE.org", " bob@example.net "):
        assert check.normalise(raw) == normalise_email(raw)
    for raw in ("a@localhost", "ana@invalid", "a..b@example.org", "ana@exa_mple.org", "ana@-example.org",
                "ana@example..org", "ana@example"):
        with pytest.raises(InvalidAddress) as fast:
            check.normalise(raw)
        with pytest.raises(InvalidAddress) as full:
            normalise_email(raw)
        assert str(fast.value) == str(full.value)


def test_each_bad_row_is_reported_with_row_address_and_reason(sessions: sessionmaker[Session]) -> None:
    suppression = SuppressionList("test-secret-key")
    with sessions.begin() as session:
        suppression.add(session, ["chloe.martin@example.fr"], "bounced")
    report = import_preview(sessions, DATA / "mailchimp_subscribed.csv", suppression).report
    assert reasons(report) == {
        6: ("not-an-address", "An email address must have an @-sign."),
        9: ("marta.quintero@example.org", "duplicate of row 2"),
        10: ("", "no address in this row"),
        11: ("chloe.martin@example.fr", "on the suppression list (bounced, complained or erased)"),
        13: ("grace@@example.com", "The part after the @-sign contains invalid characters: '@'."),
    }
    assert (report.rows, report.added, report.invalid, report.duplicates, report.suppressed) == (12, 7, 3, 1, 1)
    assert [r.row for r in report.rejected] == sorted(r.row for r in report.rejected)


def test_already_subscribed_is_counted_not_an_error(sessions: sessionmaker[Session]) -> None:
    import_csv(sessions, DATA / "plain.csv", confirmed=True)
    again = import_csv(sessions, DATA / "plain.csv", confirmed=True)
    assert (again.added, again.existing, again.rejected_total) == (0, 3, 1)
    assert reasons(again) == {4: ("bad@", "There must be something after the @-sign.")}


PEAK_SCRIPT = """
import json, resource, sys
from pathlib import Path
from newsletter.config import load_settings
from newsletter.db.engine import session_factory, make_engine
from newsletter.readers.importer import import_csv
sessions = session_factory(make_engine(sys.argv[1]))
with open(sys.argv[3], "w", newline="", encoding="utf-8") as out:
    report = import_csv(sessions, Path(sys.argv[2]), dry_run=True, rejected_out=out)
print(json.dumps({"rows": report.rows, "added": report.added, "invalid": report.invalid,
                  "kept": len(report.rejected), "rejected_total": report.rejected_total,
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def dry_run_peak(database_url: str, tmp_path: Path, rows: int) -> dict[str, int]:
    """A dry run in a fresh interpreter, so its peak memory is its own."""
    path = tmp_path / f"rows{rows}.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,name\n")
        handle.writelines(f"bad{i},R\n" if i % 1000 == 0 else f"r{i}@example.org,R\n" for i in range(rows))
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, database_url, str(path), str(tmp_path / "rejected.csv")],
                          capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the streaming is the same on both
def test_a_million_rows_stream_with_bounded_memory(database_url: str, tmp_path: Path) -> None:
    """A dry run over a generated 1,000,000-row file (every 1,000th row invalid): every row is
    counted, the report keeps 1,000 reasons, the rejected-rows CSV has them all, and the peak
    memory is that of a 1,000-row file plus a little (holding the rows would take hundreds of MB)."""
    small = dry_run_peak(database_url, tmp_path, 1000)
    big = dry_run_peak(database_url, tmp_path, 1_000_000)
    assert (big["rows"], big["added"], big["invalid"]) == (1_000_000, 999_000, 1000)
    assert big["kept"] == MAX_REASONS and big["rejected_total"] == 1000
    with (tmp_path / "rejected.csv").open(encoding="utf-8") as handle:
        assert sum(1 for _ in csv.reader(handle)) == 1001  # the header and every rejected row
    grown_mb = (big["peak_kb"] - small["peak_kb"]) / 1024
    assert grown_mb < 30, f"a million rows took {grown_mb:.0f} MB more than a thousand"
