"""The seed format parser: what a reader of the real scraped article would check."""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path

import pytest

from newsletter.content.ingest import IngestError, ParsedArticle, parse_seed

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "seeds" / "000_68e84b66394489ba.txt"
DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "ingest"
FURNITURE = ("Written by", "Topics in this article", "Comments")


def all_text(article: ParsedArticle) -> str:
    return "\n".join(str(value) for value in astuple(article))


@pytest.fixture(scope="module")
def seed() -> ParsedArticle:
    return parse_seed(SEED)


def test_byline_title_and_credit(seed: ParsedArticle) -> None:
    assert seed.author == "Svitlana Morenets"
    assert seed.title == "Is the Kursk operation still worth the cost?"
    assert seed.image_credit == "Getty Images"
    assert seed.published_at is None
    assert seed.source == str(SEED.resolve())


def test_body_paragraphs(seed: ParsedArticle) -> None:
    # Eight body paragraphs in the file; the pull quote and the author box are not among them.
    assert len(seed.paragraphs) == 8
    assert seed.paragraphs[0].startswith("Gruesome images of dead North Korean soldiers")
    assert seed.paragraphs[3].startswith("The past month has been Putin’s costliest yet, with daily losses")
    assert seed.paragraphs[-1].endswith("and it will hit hard.")
    assert all(p and p == p.strip() for p in seed.paragraphs)


def test_pull_quote_is_not_a_paragraph(seed: ParsedArticle) -> None:
    assert seed.pull_quotes == ["The past month has been Putin’s costliest yet"]
    assert "The past month has been Putin’s costliest yet" not in seed.paragraphs


def test_author_bio_kept_furniture_dropped(seed: ParsedArticle) -> None:
    assert seed.author_bio.startswith("Svitlana Morenets is a Ukrainian journalist")
    assert seed.author_bio.endswith("Ukraine in Focus, here")
    text = all_text(seed)
    for word in FURNITURE:
        assert word not in text
    assert not any(p.startswith("Svitlana Morenets") for p in seed.paragraphs)


def test_odd_spaces_normalised(seed: ParsedArticle) -> None:
    text = all_text(seed)
    assert "\u00a0" not in text and "\u202f" not in text
    assert "  " not in text
    assert "intercepted a phone call in which" in seed.paragraphs[2]


def test_comments_glued_on_bio_and_odd_whitespace() -> None:
    article = parse_seed(DATA / "glued-comments.txt")
    assert article.author == "Sam Smith"  # not doubled: kept as it is
    assert article.image_credit == "AP"
    assert article.paragraphs == ["The first paragraph has odd spaces.", "The second paragraph."]
    assert article.author_bio == "Sam Smith writes about things. Read more here"
    assert article.pull_quotes == []


def test_html_kept_as_literal_text() -> None:
    article = parse_seed(DATA / "html-in-text.txt")
    assert article.title == "When <b>markup</b> appears in an article"
    assert article.image_credit == ""
    assert article.paragraphs == [
        "<script>alert(1)</script>",
        "The paragraph above is literal text from the page & must stay as text.",
    ]
    assert article.author_bio == "Alex Writer covers the web."
    for word in FURNITURE:
        assert word not in all_text(article)


def test_crlf_bom_and_by_prefix(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffBy Jo Bloggs\r\n\r\nTitle\r\n\r\nOne.\r\n\r\nTwo.\r\n".encode())
    article = parse_seed(path)
    assert (article.author, article.title, article.paragraphs) == ("Jo Bloggs", "Title", ["One.", "Two."])


def test_short_repeat_is_not_a_pull_quote(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Jo\n\nTitle\n\nRead more about it here.\n\nRead more\n")
    assert parse_seed(path).paragraphs == ["Read more about it here.", "Read more"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b" \n\n\t\n", "empty"),
        (b"Jo Bloggs\n\nTitle \xff\xfe here\n\nBody.\n", "not UTF-8"),
        (b"Jo\x00\x00\x01", "NUL"),
        (b"Jo Bloggs Jo Bloggs\n", "no title"),
        (b"Jo Bloggs\n\nA title\n\nCredit: Getty\n", "no body"),
        (b"Jo\n\nA title\n\nJo\nWritten by\nJo\n\nBio.\n\nTopics in this article\n\nComments", "no body"),
    ],
)
def test_unusable_files_raise_a_clear_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(IngestError) as caught:
        parse_seed(path)
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert str(path) in str(caught.value)
