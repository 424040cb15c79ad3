"""Markdown articles: front matter for metadata, a CommonMark body as typed blocks."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter.content.ingest import IngestError, parse_markdown

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "ingest"
BODY = "\nFirst paragraph.\n"


def write(tmp_path: Path, text: str, name: str = "a.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_front_matter_fields() -> None:
    article = parse_markdown(DATA / "drone-war.md")
    assert article.title == "The drone war's new front line"
    assert article.author == "Jane Doe"
    assert article.published_at == datetime(2024, 12, 20, 8, 30, tzinfo=timezone.utc)
    assert article.standfirst == "Cheap drones have changed the arithmetic of the war."
    assert article.image_url == "https://example.org/images/drones.jpg"
    assert article.image_credit == "Reuters"
    assert article.author_bio == "Jane Doe is a defence correspondent."
    assert article.url == "https://example.org/2024/12/drone-war"
    assert article.source == str((DATA / "drone-war.md").resolve())


def test_body_keeps_its_markup_as_blocks_and_its_words_as_paragraphs() -> None:
    article = parse_markdown(DATA / "drone-war.md")
    assert [block["kind"] for block in article.body] == ["paragraph", "quote", "paragraph", "paragraph", "heading", "paragraph"]
    first, quote, second, script, heading, last = article.body
    assert '<strong>first-person-view</strong>' in first["html"]
    assert '<a href="https://example.org/study">a recent study</a>' in first["html"]
    assert quote["html"] == "Most casualties now come from drones"
    assert "<em>the</em>" in second["html"] and "*any*" in second["html"] and "~~" not in second["html"]
    assert script["html"] == "&lt;script&gt;alert(1)&lt;/script&gt;"  # raw HTML stays visible text
    assert (heading["level"], heading["html"]) == (2, "What comes next")
    assert "<code>electronic warfare</code>" in last["html"]
    # The old columns keep the words, for their readers.
    assert article.paragraphs == [
        "Cheap first-person-view drones now account for most casualties on both sides, "
        "according to a recent study.",
        "Most casualties now come from drones",
        "Commanders say the front line has become a kill zone several kilometres deep, "
        "where *any* movement is seen.",
        "<script>alert(1)</script>",
        "What comes next",
        "Both armies are racing to build electronic warfare kits.",
    ]
    assert article.pull_quotes == []


def test_alternative_keys_and_no_date(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "---\ntitle: T\nstandfirst: S\nimage_credit: C\nauthor_bio: B\n---\n"
        "Para one\nwrapped.\n\n> quoted\n> over two lines\n\nsnake_case_name stays; 2 * 3 = 6\n",
    )
    article = parse_markdown(path)
    assert (article.standfirst, article.image_credit, article.author_bio) == ("S", "C", "B")
    assert article.author == "" and article.published_at is None
    assert article.paragraphs == ["Para one wrapped.", "quoted over two lines", "snake_case_name stays; 2 * 3 = 6"]
    assert article.body[1] == {"kind": "quote", "html": "quoted over two lines"}


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2024-12-20", datetime(2024, 12, 20, tzinfo=timezone.utc)),
        ("2024-12-20 10:00:00", datetime(2024, 12, 20, 10, tzinfo=timezone.utc)),
        ("'2024-12-20T10:00:00-05:00'", datetime(2024, 12, 20, 15, tzinfo=timezone.utc)),
        ("Fri, 20 Dec 2024 10:00:00 +0000", datetime(2024, 12, 20, 10, tzinfo=timezone.utc)),
    ],
)
def test_dates_become_aware_utc(tmp_path: Path, date: str, expected: datetime) -> None:
    article = parse_markdown(write(tmp_path, f"---\ntitle: T\ndate: {date}\n---\n{BODY}"))
    assert article.published_at == expected
    assert article.published_at is not None and article.published_at.utcoffset() is not None


def test_crlf_bom_and_nbsp(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_bytes("\ufeff---\r\ntitle: A\u00a0title\r\n---\r\n\r\nOne\u202ftwo.\r\n".encode())
    article = parse_markdown(path)
    assert (article.title, article.paragraphs) == ("A title", ["One two."])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("Just text, no front matter.\n", "no front matter"),
        ("---\ntitle: T\nFirst paragraph.\n", "no closing"),
        ("---\nauthor: Jo\n---\n" + BODY, "no title"),
        ("---\ntitle: ''\n---\n" + BODY, "no title"),
        ("---\ntitle: [unclosed\n---\n" + BODY, "bad front matter"),
        ("---\n- a\n- b\n---\n" + BODY, "bad front matter"),
        ("---\ntitle: [a, b]\n---\n" + BODY, "'title' must be text"),
        ("---\ntitle: T\ndate: next tuesday\n---\n" + BODY, "bad date"),
        ("---\ntitle: T\ndate: 2024-13-45\n---\n" + BODY, "bad date"),
        ("---\ntitle: T\ndate: 12\n---\n" + BODY, "bad date"),
        ("---\ntitle: T\n---\n\n***\n", "no body"),
    ],
)
def test_unusable_files_raise_a_clear_error(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(IngestError) as caught:
        parse_markdown(path)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"---\ntitle: caf\xe9\n---\n\nBody.\n")
    with pytest.raises(IngestError, match="not UTF-8"):
        parse_markdown(path)
