from pathlib import Path

import pytest

from newsletter.importer import ImportFileError, import_csv
from newsletter.models import Subscriber, SubscriberStatus


def write(tmp_path: Path, text: str, name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_adds_valid_rows_and_reports_bad_ones_by_line(sessions, tmp_path):
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
    assert report.added == 3 and report.existing == 1
    assert [line for line, _ in report.rejected] == [3]
    assert "not-an-email" in report.rejected[0][1]
    with sessions() as session:
        people = {s.email: s for s in session.query(Subscriber)}
    assert set(people) == {"ana@example.org", "bob@example.org", "eve@example.org"}
    assert people["ana@example.org"].name == "Ana"
    assert all(s.status is SubscriberStatus.ACTIVE for s in people.values())


def test_reimporting_the_same_file_adds_nobody(sessions, tmp_path):
    path = write(tmp_path, "email,name\nana@example.org,Ana\n")
    import_csv(sessions, path)
    again = import_csv(sessions, path)
    assert again.added == 0 and again.existing == 1


def test_a_file_without_a_header_uses_the_first_column(sessions, tmp_path):
    report = import_csv(sessions, write(tmp_path, "ana@example.org,Ana\nbob@example.org,Bob\n"))
    assert report.added == 2


def test_names_with_line_breaks_are_flattened(sessions, tmp_path):
    import_csv(sessions, write(tmp_path, 'email,name\nana@example.org,"Ana\r\nBcc: evil@example.com"\n'))
    with sessions() as session:
        assert session.query(Subscriber).one().name == "Ana Bcc: evil@example.com"


def test_unreadable_files_get_a_clear_error(sessions, tmp_path):
    with pytest.raises(ImportFileError, match="cannot open"):
        import_csv(sessions, tmp_path / "missing.csv")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"email\n\xff\xfe\x00bad\n")
    with pytest.raises(ImportFileError, match="not a UTF-8 CSV"):
        import_csv(sessions, binary)
