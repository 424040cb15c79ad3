"""The design in the rendered emails (accent, logo, font, footer, the view-in-browser link) and
the custom issue template: refused with the line at fault, previewed, used, reset."""

from __future__ import annotations

import email
import email.policy
import re

import pytest
from fastapi.testclient import TestClient

from newsletter.issues.compose import compose
from newsletter.config import Settings
from newsletter.render.custom_template import TemplateRejected, check_upload, render_preview, reset_template, use_draft
from newsletter.delivery.dispatch import Worker
from newsletter.issues.list_profile import FONT_STACKS, load_profile, load_template_draft, save_profile
from newsletter.render.issue import render_confirmation, render_welcome
from newsletter.services import Services
from tests.factories import add_article, add_subscribers

SHIPPED = (Settings().templates_dir / "email" / "issue.mjml.j2").read_text()


def new_issue(services: Services) -> int:
    add_article(services.sessions, "The lead story", paragraphs=["Its first paragraph."])
    return compose(services.sessions, services.settings).issue_id


def test_the_design_shows_in_the_issue_and_the_confirmation(services: Services, settings: Settings) -> None:
    issue_id = new_issue(services)
    save_profile(services.sessions, settings, accent_color="#aa3300", logo_url="https://cdn.example.org/logo.png",
                 font_family="Classic serif", footer_text="Field Notes Ltd\n1 High Street, Bristol")
    html = services.publisher.rendered(issue_id).html
    assert "color: #aa3300" in html  # links
    assert "#aa3300" in re.search(r"border-top:solid 4px [^;]+;", html).group(0)  # type: ignore[union-attr]
    assert re.search(r'<img [^>]*alt="The Test Briefing"[^>]*src="https://cdn.example.org/logo.png"', html)
    assert FONT_STACKS["Classic serif"] in html
    assert "Field Notes Ltd<br />1 High Street, Bristol" in html
    text = services.publisher.rendered(issue_id).text
    assert "unsubscribe" in text.lower()

    profile = load_profile(services.sessions, settings)
    _, confirm_text, confirm_html = render_confirmation(settings, "https://x.example/confirm/t", "Ana", profile)
    assert "background:#aa3300" in confirm_html.replace(" ", "")  # the button
    assert "1 High Street, Bristol" in confirm_text and "1 High Street, Bristol" in confirm_html


def test_user_text_in_the_design_is_escaped(services: Services, settings: Settings) -> None:
    issue_id = new_issue(services)
    save_profile(services.sessions, settings, list_name="<script>alert(1)</script>", footer_text="<b>bold</b> & co")
    html = services.publisher.rendered(issue_id).html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html


def test_the_welcome_email_renders_the_markdown_body(services: Services, settings: Settings) -> None:
    profile = save_profile(services.sessions, settings, welcome_enabled=True, welcome_subject="Hello, reader",
                           welcome_body_markdown="Thanks for **joining**.\n\n<script>x()</script>[Archive](https://e.org/a)")
    subject, text, html = render_welcome(settings, profile, "Ana")
    assert subject == "Hello, reader"
    assert "<strong>joining</strong>" in html and '<a href="https://e.org/a"' in html
    assert "<script>" not in html
    assert "Thanks for **joining**." in text and "Hi Ana," in text


def test_the_view_in_browser_link_opens_the_issue(client: TestClient, services: Services) -> None:
    add_subscribers(services.sessions, 1)
    issue_id = new_issue(services)
    services.publisher.queue(issue_id)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    [message] = services.backend.sent  # type: ignore[attr-defined]
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    part = parsed.get_body(preferencelist=("html",))
    assert part is not None
    html = part.get_content()
    links = re.findall(r'href="([^"]+)"[^>]*>View in your browser', html)
    assert links, "no view-in-browser link in the email"
    assert links[0] == "http://newsletter.test/archive/1"
    page = client.get(links[0].removeprefix("http://newsletter.test"))
    assert page.status_code == 200 and "The lead story" in page.text
    # The first one stands at the top, above the masthead.
    assert html.index("View in your browser") < html.index('class="masthead')


@pytest.mark.parametrize(
    ("broken", "line", "says"),
    [
        (SHIPPED.replace("{% endfor %}", "{% endfr %}", 1), 22, "endfr"),
        (SHIPPED.replace("{{ archive_url }}", "{{ archive_url ", 1), 10, "expected token"),
        (SHIPPED.replace("{{ archive_url }}", "{{ no_such_thing.x }}", 1), 10, "no_such_thing"),
        (SHIPPED.replace("</mj-column>", "", 1), 12, "</mj-section> found where </mj-column>"),
        (SHIPPED.replace('<mj-spacer height="8px" />', '<mj-spacr height="8px" />'), 54, "unknown MJML element <mj-spacr>"),
        (SHIPPED + "<mj-section>\n", SHIPPED.count("\n") + 1, "<mj-section> is never closed"),
    ],
)
def test_a_broken_template_is_refused_with_its_line(
    services: Services, settings: Settings, broken: str, line: int, says: str
) -> None:
    new_issue(services)
    with pytest.raises(TemplateRejected) as caught:
        check_upload(services.sessions, settings, broken)
    assert caught.value.lineno == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert says in str(caught.value)
    assert load_template_draft(services.sessions) is None  # nothing kept


def test_a_template_without_the_unsubscribe_link_is_refused(services: Services, settings: Settings) -> None:
    no_footer = SHIPPED.replace('{% include "email/_footer.mjml.j2" %}', "")
    with pytest.raises(TemplateRejected, match=r"no unsubscribe link.*slot\.unsubscribe_url"):
        check_upload(services.sessions, settings, no_footer)


def test_a_template_cannot_reach_python_internals(services: Services, settings: Settings) -> None:
    sneaky = SHIPPED.replace("{{ archive_url }}", "{{ ''.__class__.__mro__ }}", 1)
    with pytest.raises(TemplateRejected, match="line 10: .*unsafe"):
        check_upload(services.sessions, settings, sneaky)


def test_a_good_template_is_previewed_then_used_then_reset(services: Services, settings: Settings) -> None:
    issue_id = new_issue(services)
    mine = SHIPPED.replace("{% include \"email/_header.mjml.j2\" %}",
                           '<mj-section><mj-column><mj-text>MY OWN MASTHEAD</mj-text></mj-column></mj-section>')
    check_upload(services.sessions, settings, mine)
    profile = load_profile(services.sessions, settings)
    assert "MY OWN MASTHEAD" in render_preview(services.sessions, settings, profile,
                                               template_source=load_template_draft(services.sessions))
    # Not in use until the editor says so.
    assert "MY OWN MASTHEAD" not in services.publisher.rendered(issue_id).html

    draft = load_template_draft(services.sessions)
    assert draft is not None
    use_draft(services.sessions, settings, draft)
    assert load_template_draft(services.sessions) is None
    assert "MY OWN MASTHEAD" in services.publisher.rendered(issue_id).html  # the next render uses it

    reset_template(services.sessions, settings)
    assert load_profile(services.sessions, settings).custom_template is None
    assert "MY OWN MASTHEAD" not in services.publisher.rendered(issue_id).html


def test_the_preview_uses_a_sample_issue_before_the_first_one(services: Services, settings: Settings) -> None:
    html = render_preview(services.sessions, settings, load_profile(services.sessions, settings))
    assert "A sample article" in html
