"""Rendering an issue once: responsive HTML and a readable text part, both with reader slots."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter.config import Settings, load_settings, shipped_templates
from newsletter.mail.message import Reader
from newsletter.content.models import Article
from newsletter.issues.models import Issue, IssueArticle
from newsletter.render.issue import (
    GREETING_SLOT,
    UNSUBSCRIBE_SLOT,
    RenderedIssue,
    TemplateError,
    fill_html,
    fill_text,
    render_confirmation,
    render_issue,
)

PARAGRAPHS = [
    "Gruesome images of dead North Korean soldiers sprawled in the mud and snow have flooded military "
    "Telegram channels this week. Pyongyang’s troops joined the battle for Russia’s Kursk region, but so "
    "far haven’t been able to evade the Ukrainian drones.",
    "Since November, Russia has deployed around 12,000 North Korean troops to reclaim the Kursk region "
    "from Ukrainians. The language barrier and difficulties with integration into Russian military ranks "
    "have caused delays in getting them battle-ready.",
    "But the Ukrainian defence is being stretched, too. While 60,000 Russian troops have been drawn into "
    "bombing their own territory instead of Ukraine, this hasn’t slowed Russia’s advances in the Donetsk "
    "region.",
]
PULL_QUOTE = "The past month has been Putin’s costliest yet"
BIO = (
    "Svitlana Morenets is a Ukrainian journalist and a staff writer at The Spectator. She was named "
    "Young Journalist of the Year in the 2024 UK Press Awards."
)


def make_settings(tmp_path: Path, templates_dir: Path | None = None) -> Settings:
    extra = {"templates_dir": templates_dir} if templates_dir else {}
    return load_settings(
        data_dir=tmp_path / "var",
        secret_key="x",
        admin_password="y",
        from_address="The Test Briefing <briefing@example.org>",
        list_name="The Test Briefing",
        base_url="http://newsletter.test",
        **extra,
    )


def make_article(**overrides: object) -> Article:
    fields: dict[str, object] = {
        "uid": "kursk",
        "title": "Is the Kursk operation still worth the cost?",
        "author": "Svitlana Morenets",
        "published_at": datetime(2024, 12, 20, 9, 0, tzinfo=timezone.utc),
        "standfirst": "Ukrainian soldiers question the value of holding Russian land",
        "paragraphs": list(PARAGRAPHS),
        "pull_quotes": [PULL_QUOTE],
        "image_url": "https://images.example.org/kursk.jpg",
        "image_credit": "Credit: Getty Images",
        "author_bio": BIO,
        "url": "https://www.example.org/article/kursk",
        "content_hash": "0" * 64,
    }
    fields.update(overrides)
    return Article(**fields)


def make_issue(*articles: Article, subject: str = "Week 51: the cost of Kursk") -> Issue:
    chosen = articles or (make_article(),)
    return Issue(
        number=7,
        subject=subject,
        preheader="Is holding Kursk worth it? And more from the front.",
        items=[IssueArticle(position=i, article=a) for i, a in enumerate(chosen)],
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:  # overrides the database-parametrised one: no DB here
    return make_settings(tmp_path)


@pytest.fixture
def rendered(settings: Settings) -> RenderedIssue:
    return render_issue(make_issue(), settings)


def test_html_has_the_whole_article(rendered: RenderedIssue) -> None:
    html = rendered.html
    assert "Is the Kursk operation still worth the cost?" in html
    for paragraph in PARAGRAPHS:
        assert paragraph in html
    assert re.search(r"<blockquote[^>]*>“The past month has been Putin’s costliest yet”</blockquote>", html)
    assert "Credit: Getty Images" in html and "Credit: Credit:" not in html
    assert BIO in html
    assert "By <strong>Svitlana Morenets</strong>" in html and "20 December 2024" in html
    assert re.search(r'<img src="https://images[^"]*" alt="Is the Kursk operation still worth the cost\?"', html)
    assert 'href="https://www.example.org/article/kursk"' in html


def test_html_is_a_responsive_600px_email(rendered: RenderedIssue) -> None:
    html = rendered.html
    assert html.startswith("<!doctype html>")
    assert "max-width:600px" in html and 'width="600"' in html
    assert "@media only screen and (max-width:480px)" in html
    assert "Is holding Kursk worth it? And more from the front." in html  # preheader (mj-preview)
    assert "<title>Week 51: the cost of Kursk</title>" in html
    assert "The Test Briefing" in html and "Issue 7" in html
    assert "<mj-" not in html


def test_footer_links_and_sender(rendered: RenderedIssue) -> None:
    assert 'href="http://newsletter.test/archive/7"' in rendered.html
    assert f'href="{UNSUBSCRIBE_SLOT}"' in rendered.html
    assert "briefing@example.org" in rendered.html
    assert rendered.html.count(GREETING_SLOT) == 1


def test_article_markup_is_escaped(settings: Settings) -> None:
    article = make_article(
        title='Bombs & <script>alert("t")</script>',
        paragraphs=["<script>alert(1)</script> and <b>bold</b>"],
        pull_quotes=["<img src=x onerror=alert(2)>"],
        author_bio="<iframe src=evil>",
    )
    html = render_issue(make_issue(article), settings).html
    assert "<script>" not in html and "<b>bold" not in html and "<iframe" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'alt="Bombs &amp; &lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;"' in html


def test_no_image_means_no_img(settings: Settings) -> None:
    html = render_issue(make_issue(make_article(image_url="")), settings).html
    assert "<img" not in html and "Getty Images" not in html


def test_articles_keep_their_order(settings: Settings) -> None:
    first = make_article(uid="a", title="First story")
    second = make_article(uid="b", title="Second story", image_url="", pull_quotes=[], author_bio="")
    rendered = render_issue(make_issue(first, second), settings)
    for body in (rendered.html, rendered.text):
        assert 0 < body.index("First story") < body.index("Second story")


def test_text_part_is_readable(rendered: RenderedIssue) -> None:
    text = rendered.text
    lines = text.splitlines()
    title = "Is the Kursk operation still worth the cost?"
    assert lines[lines.index(title) + 1] == "=" * len(title)
    flowing = " ".join(text.split())
    for paragraph in PARAGRAPHS:
        assert paragraph in flowing
    assert "> “The past month has been Putin’s costliest yet”" in lines
    assert "http://newsletter.test/archive/7" in lines
    assert "https://www.example.org/article/kursk" in lines
    assert "[Image credit: Getty Images]" in lines
    assert "<" not in text.replace("<briefing@example.org>", "")  # no markup leaks into text
    for line in lines:
        assert len(line) <= 78 or "://" in line, line


def test_slots_stand_alone_in_text(rendered: RenderedIssue) -> None:
    lines = rendered.text.splitlines()
    assert lines.count(GREETING_SLOT) == 1
    assert lines.count(UNSUBSCRIBE_SLOT) == 1


def test_long_urls_are_not_broken_in_text(settings: Settings) -> None:
    url = "https://www.example.org/" + "very-long-path-segment/" * 6 + "article"
    text = render_issue(make_issue(make_article(url=url)), settings).text
    assert url in text.splitlines()


def test_content_cannot_plant_slots(settings: Settings) -> None:
    article = make_article(paragraphs=[f"Sneaky {GREETING_SLOT} and {UNSUBSCRIBE_SLOT}"], title=GREETING_SLOT)
    rendered = render_issue(make_issue(article), settings)
    assert rendered.html.count(GREETING_SLOT) == 1
    assert rendered.text.count(GREETING_SLOT) == 1
    assert rendered.text.count(UNSUBSCRIBE_SLOT) == 2  # the template's own: preferences and unsubscribe lines


def test_fill_for_a_reader(rendered: RenderedIssue) -> None:
    reader = Reader(
        email="ana@example.org",
        name="Ana <b>Lopez</b>",
        unsubscribe_url="https://newsletter.test/unsubscribe/tok?a=1&b=2",
        unsubscribe_mailto="mailto:unsubscribe@example.org",
    )
    html = fill_html(rendered.html, reader)
    assert "Hi Ana &lt;b&gt;Lopez&lt;/b&gt;," in html and "<b>Lopez" not in html
    assert 'href="https://newsletter.test/unsubscribe/tok?a=1&amp;b=2"' in html
    text = fill_text(rendered.text, reader)
    assert "Hi Ana <b>Lopez</b>," in text.splitlines()
    assert "https://newsletter.test/unsubscribe/tok?a=1&b=2" in text.splitlines()
    for body in (html, text):
        assert GREETING_SLOT not in body and UNSUBSCRIBE_SLOT not in body


def test_fill_for_the_public_web_version(rendered: RenderedIssue) -> None:
    html = fill_html(rendered.html, None, base_url="http://newsletter.test/")
    assert ">Hello,<" in html and 'href="http://newsletter.test/unsubscribe"' in html
    text = fill_text(rendered.text, None, base_url="http://newsletter.test")
    assert "Hello," in text.splitlines() and "http://newsletter.test/unsubscribe" in text.splitlines()


def test_reader_without_name_gets_hello(rendered: RenderedIssue) -> None:
    reader = Reader(email="a@example.org", name="  ", unsubscribe_url="https://x.test/u", unsubscribe_mailto="")
    assert "Hello," in fill_text(rendered.text, reader).splitlines()


def test_confirmation_email(settings: Settings) -> None:
    url = "http://newsletter.test/confirm/abc.def?x=1&y=2"
    subject, text, html = render_confirmation(settings, url, "Zoë")
    assert "The Test Briefing" in subject
    assert url in text.splitlines()
    assert "Hi Zoë," in text
    assert 'href="http://newsletter.test/confirm/abc.def?x=1&amp;y=2"' in html
    assert "max-width:600px" in html
    assert "Hello," in render_confirmation(settings, url, "")[1]


# --- broken templates -------------------------------------------------------------------


@pytest.fixture
def broken_dir(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(shipped_templates() / "email", target / "email")
    return target


def _break(templates: Path, name: str, line: int, content: str) -> None:
    path = templates / "email" / name
    lines = path.read_text().splitlines()
    lines.insert(line - 1, content)
    path.write_text("\n".join(lines) + "\n")


def test_jinja_syntax_error_names_file_and_line(tmp_path: Path, broken_dir: Path) -> None:
    _break(broken_dir, "_article.mjml.j2", 3, "{% if %}")
    with pytest.raises(TemplateError) as info:
        render_issue(make_issue(), make_settings(tmp_path, broken_dir))
    assert "email/_article.mjml.j2" in str(info.value) and "line 3" in str(info.value)
    assert (info.value.template, info.value.lineno) == ("email/_article.mjml.j2", 3)


def test_undefined_variable_names_file_and_line(tmp_path: Path, broken_dir: Path) -> None:
    _break(broken_dir, "issue.txt.j2", 4, "{{ no_such_thing }}")
    with pytest.raises(TemplateError) as info:
        render_issue(make_issue(), make_settings(tmp_path, broken_dir))
    message = str(info.value)
    assert "email/issue.txt.j2" in message and "line 4" in message and "no_such_thing" in message


def test_undefined_attribute_in_include(tmp_path: Path, broken_dir: Path) -> None:
    _break(broken_dir, "_footer.mjml.j2", 2, "{{ article.no_such_field }}")
    with pytest.raises(TemplateError, match=r"email/_footer\.mjml\.j2, line 2"):
        render_issue(make_issue(), make_settings(tmp_path, broken_dir))


def test_mjml_error_names_template_and_mjml_message(tmp_path: Path, broken_dir: Path) -> None:
    path = broken_dir / "email" / "issue.mjml.j2"
    path.write_text(path.read_text().replace("</mj-body>", ""))
    with pytest.raises(TemplateError) as info:
        render_issue(make_issue(), make_settings(tmp_path, broken_dir))
    assert "email/issue.mjml.j2" in str(info.value) and "MJML error" in str(info.value)


def test_unknown_mjml_element_names_file_and_line(tmp_path: Path, broken_dir: Path) -> None:
    _break(broken_dir, "_footer.mjml.j2", 4, "<mj-colum><mj-text>x</mj-text></mj-colum>")
    with pytest.raises(TemplateError, match=r"email/_footer\.mjml\.j2, line 4: .*<mj-colum>"):
        render_issue(make_issue(), make_settings(tmp_path, broken_dir))


def test_template_without_unsubscribe_link_is_refused(tmp_path: Path, broken_dir: Path) -> None:
    path = broken_dir / "email" / "issue.txt.j2"
    path.write_text(path.read_text().replace("{{ slot.unsubscribe_url }}", ""))
    with pytest.raises(TemplateError, match="issue.txt.j2: the unsubscribe link"):
        render_issue(make_issue(), make_settings(tmp_path, broken_dir))
