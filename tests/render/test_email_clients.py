"""An issue that looks right in every mail app: no web fonts, a designed dark version, one
greeting, a contents list that jumps to each article, and a dated masthead."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine

from newsletter.config import Settings, load_settings
from newsletter.issues.list_profile import resolve
from newsletter.issues.models import Issue
from newsletter.render.issue import GREETING_SLOT, render_confirmation, render_issue, render_welcome
from tests.render.test_render import make_article, make_issue


def make_settings(tmp_path: Path, time_zone: str = "Europe/London") -> Settings:
    return load_settings(
        data_dir=tmp_path / "var", secret_key="x", admin_password="y", time_zone=time_zone,
        from_address="The Test Briefing <briefing@example.org>", list_name="The Test Briefing",
        base_url="http://newsletter.test",
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:  # no database here
    return make_settings(tmp_path)


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.fragments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "a" and (values.get("href") or "").startswith("#"):
            self.fragments.append(str(values["href"])[1:])


def two_articles() -> Issue:
    return make_issue(make_article(), make_article(uid="second", title="The second story", url=""))


def test_no_web_font_is_linked_in_any_email(settings: Settings) -> None:
    profile = resolve(None, settings)  # the default design, whose stack names Roboto
    htmls = [
        render_issue(make_issue(), settings, profile).html,
        render_confirmation(settings, "https://news.example/confirm/t", "Ana", profile)[2],
        render_welcome(settings, profile, "Ana")[2],
    ]
    for html in htmls:
        assert "Roboto" in html  # the system stack is still asked for...
        assert "fonts.googleapis.com" not in html  # ...but never fetched from a font host
        assert "@import" not in html
        assert not re.search(r"<link[^>]*stylesheet", html)


def test_the_email_has_a_designed_dark_version(settings: Settings) -> None:
    html = render_issue(make_issue(), settings).html
    assert '<meta name="color-scheme" content="light dark"' in html
    assert '<meta name="supported-color-schemes" content="light dark"' in html
    assert re.search(r":root\s*{\s*color-scheme:\s*light dark;", html)
    dark = html[html.index("@media (prefers-color-scheme: dark)"):]
    # background, card, text, links, rules and pull quotes each have a dark rule
    for selector in (".email-bg", ".card", ".card td div", ".card a", ".rule p", ".pull-quote"):
        assert selector in dark, selector
    assert re.search(r"\[data-ogsc\] \.card td div[^{]*{ color: #ebe7df !important; }", html)
    assert re.search(r"\[data-ogsb\] \.card,[^{]*{ background: #24221f", html)
    # the rules' hooks are in the markup: the page, the white cards and the rules
    assert 'class="email-bg"' in html and 'class="card"' in html and 'class="rule"' in html
    # the default accent (#0b57d0), lightened for dark backgrounds
    assert "color: #85abe7 !important" in dark


def test_an_editors_note_replaces_the_templates_greeting(settings: Settings) -> None:
    issue = make_issue()
    issue.editor_note = "Hello friends,\n\nA short week, and a long read."
    rendered = render_issue(issue, settings)
    assert "Hello friends," in rendered.html and "Hello friends," in rendered.text
    assert GREETING_SLOT not in rendered.html and GREETING_SLOT not in rendered.text
    without = render_issue(make_issue(), settings)
    assert without.html.count(GREETING_SLOT) == 1 and without.text.count(GREETING_SLOT) == 1


def test_the_contents_link_to_each_article(settings: Settings) -> None:
    rendered = render_issue(two_articles(), settings)
    parser = _Ids()
    parser.feed(rendered.html)
    assert parser.fragments == ["article-1", "article-2"]
    assert set(parser.fragments) <= parser.ids  # each link lands on its article
    assert rendered.html.index('id="article-2"') > rendered.html.index("Is the Kursk operation")
    assert "1. Is the Kursk operation still worth the cost?" in rendered.text
    assert "2. The second story" in rendered.text


@pytest.mark.parametrize(
    ("zone", "sent", "shown"),
    [
        ("Europe/London", datetime(2026, 12, 12, 23, 30, tzinfo=timezone.utc), "12 December 2026"),
        ("Pacific/Auckland", datetime(2026, 12, 12, 23, 30, tzinfo=timezone.utc), "13 December 2026"),
    ],
)
def test_the_masthead_shows_the_issues_date_in_the_lists_zone(tmp_path: Path, zone: str, sent: datetime,
                                                              shown: str) -> None:
    issue = make_issue()
    issue.sent_at = sent
    rendered = render_issue(issue, make_settings(tmp_path, zone))
    assert f"Issue 7 · {shown}" in rendered.html
    assert f"The Test Briefing · Issue 7 · {shown}" in rendered.text


def test_a_drafts_masthead_shows_its_planned_send_date_not_its_compose_date(settings: Settings) -> None:
    issue = make_issue()
    issue.created_at = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # composed on Monday
    # Not scheduled: it would go out today (the clock's day in the list's zone, London here).
    with time_machine.travel(datetime(2026, 3, 4, 23, 30, tzinfo=timezone.utc), tick=False):
        html = render_issue(issue, settings).html
    assert "Issue 7 · 4 March 2026" in html and "2 March" not in html
    issue.scheduled_at = datetime(2026, 3, 5, 7, 0, tzinfo=timezone.utc)
    assert "Issue 7 · 5 March 2026" in render_issue(issue, settings).html
    sent_day = datetime(2026, 3, 6, 7, 0, tzinfo=timezone.utc)  # the send passes its own day
    assert "Issue 7 · 6 March 2026" in render_issue(issue, settings, dated=sent_day).text.replace("\n", " ")


def test_excerpt_mode_cuts_each_article_and_links_to_the_whole(settings: Settings) -> None:
    issue = two_articles()
    issue.article_mode = "excerpt"
    rendered = render_issue(issue, settings)
    first, second, third = (p[:60] for p in make_article().paragraphs)
    assert first in rendered.html and second in rendered.html
    assert third not in rendered.html and third not in rendered.text
    assert 'href="http://newsletter.test/archive/7#article-1"' in rendered.html
    assert 'href="http://newsletter.test/archive/7#article-2"' in rendered.html
    assert "Read the whole article:\nhttp://newsletter.test/archive/7#article-1" in rendered.text
    # the web version has every paragraph, and the anchors the links point to
    assert rendered.web_html is not None
    assert third in rendered.web_html and 'id="article-1"' in rendered.web_html
    assert "Read the whole article" not in rendered.web_html
    assert render_issue(two_articles(), settings).web_html is None  # full mode: one version


def test_the_footer_shows_the_lists_postal_address(settings: Settings) -> None:
    profile = resolve(None, settings)
    assert "High Street" not in render_issue(make_issue(), settings, profile).html
    with_address = replace(profile, postal_address="1 High Street\nLondon N1 1AA")
    rendered = render_issue(make_issue(), settings, with_address)
    assert "1 High Street<br />London N1 1AA" in rendered.html
    assert "1 High Street\nLondon N1 1AA" in rendered.text
