"""Each list's own design: B's issues look like B, A's stay A's, and B follows A until changed."""

from __future__ import annotations

import email
import html
import email.policy
import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.content.models import Article
from newsletter.content.sources import add_source
from newsletter.delivery.dispatch import Worker
from newsletter.issues.compose import Week, compose
from newsletter.issues.list_profile import InvalidProfile, load_profile, save_profile
from newsletter.lists.catalog import create_list, profile_for
from newsletter.lists.design import follow_first_list, own_fields, save_design, template_draft
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.render.custom_template import TemplateRejected, check_upload, reset_template, use_draft
from newsletter.services import Services
from tests.factories import add_article, add_subscribers
from tests.issues.test_design import SHIPPED, upload_error
from tests.media.images import png
from tests.web.admin.test_issues import csrf, log_in
from tests.web.admin.test_settings import design_form

WEEK = Week(2026, 48)
IN_WEEK = WEEK.bounds(__import__("zoneinfo").ZoneInfo("Europe/London"))[0].replace(hour=12)
MASTHEAD = '{% include "email/_header.mjml.j2" %}'
GREETING = "<mj-text>{{ slot.greeting }}</mj-text>"


@dataclass
class TwoLists:
    b: int  # Tech Notes' id
    issue_a: int
    issue_b: int


def two_lists(services: Services) -> TwoLists:
    b = create_list(services.sessions, "Tech Notes")
    source = add_source(services.sessions, "https://feeds.example.org/tech.xml", list_id=b.id)
    add_article(services.sessions, "A tech piece", IN_WEEK)
    with services.sessions.begin() as session:
        session.scalars(select(Article).where(Article.title == "A tech piece")).one().source_id = source.id
    add_article(services.sessions, "A first-list piece", IN_WEEK)
    issue_b = compose(services.sessions, services.settings, WEEK, list_id=b.id).issue_id
    issue_a = compose(services.sessions, services.settings, WEEK).issue_id
    return TwoLists(b.id, issue_a, issue_b)


def logo_img(html: str, name: str) -> str | None:
    found = re.search(rf'<img [^>]*alt="{name}"[^>]*src="([^"]+)"', html)
    return found.group(1) if found else None


def test_an_issue_of_b_has_bs_design_and_as_issues_keep_as(services: Services) -> None:
    lists = two_lists(services)
    logo_a, logo_b = services.media.add(png(480, 120)).url, services.media.add(png(400, 100)).url
    save_profile(services.sessions, services.settings, accent_color="#aa3300", logo_url=logo_a,
                 footer_text="First list footer")
    # Until B's editor changes it, B looks like A (under its own name).
    before = services.publisher.rendered(lists.issue_b).html
    assert "color: #aa3300" in before and logo_img(before, "Tech Notes") == logo_a
    assert own_fields(services.sessions, lists.b) == frozenset()

    save_design(services.sessions, services.settings, lists.b, accent_color="#116611", logo_url=logo_b)
    b_html = services.publisher.rendered(lists.issue_b).html  # re-rendered: the save forgot B's render
    assert "color: #116611" in b_html and "#aa3300" not in b_html
    assert logo_img(b_html, "Tech Notes") == logo_b
    assert "First list footer" in b_html  # a field B did not set follows A
    a_html = services.publisher.rendered(lists.issue_a).html
    assert "color: #aa3300" in a_html and "#116611" not in a_html
    assert logo_img(a_html, "The Test Briefing") == logo_a
    assert load_profile(services.sessions, services.settings).accent_color == "#aa3300"

    # The test send and the real send are B's too.
    services.publisher.send_test(lists.issue_b, "editor@example.org", services.backend)
    add_subscribers(services.sessions, 1, prefix="b-reader", list_id=lists.b)
    add_subscribers(services.sessions, 1, prefix="a-reader")
    services.publisher.queue(lists.issue_b, force=True)
    services.publisher.queue(lists.issue_a, force=True)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    bodies = {}
    for sent in services.backend.sent:  # type: ignore[attr-defined]
        part = email.message_from_bytes(sent.data, policy=email.policy.default).get_body(preferencelist=("html",))
        assert part is not None
        bodies[sent.recipient] = part.get_content()
    for who in ("editor@example.org", "b-reader0@example.net"):
        assert "color: #116611" in bodies[who] and logo_img(bodies[who], "Tech Notes") == logo_b, who
    assert "color: #aa3300" in bodies["a-reader0@example.net"]
    assert logo_img(bodies["a-reader0@example.net"], "The Test Briefing") == logo_a


def test_a_bad_design_for_b_changes_nothing_and_b_can_follow_a_again(services: Services) -> None:
    lists = two_lists(services)
    save_design(services.sessions, services.settings, lists.b, footer_text="B footer")
    with pytest.raises(InvalidProfile) as caught:
        save_design(services.sessions, services.settings, lists.b, accent_color="red", footer_text="Other")
    assert set(caught.value.errors) == {"accent_color"}
    assert profile_for(services.sessions, services.settings, lists.b).footer_text == "B footer"  # unchanged

    save_profile(services.sessions, services.settings, accent_color="#aa3300")
    follow_first_list(services.sessions, services.settings, lists.b)
    profile = profile_for(services.sessions, services.settings, lists.b)
    assert (profile.accent_color, profile.footer_text, profile.list_name) == ("#aa3300", "", "Tech Notes")
    with pytest.raises(InvalidProfile):
        follow_first_list(services.sessions, services.settings, FIRST_LIST_ID)


def test_each_list_has_its_own_template_rendered_in_the_cage(services: Services) -> None:
    lists = two_lists(services)
    mine = SHIPPED.replace(MASTHEAD, "<mj-section><mj-column><mj-text>B'S OWN MASTHEAD</mj-text></mj-column></mj-section>")
    check_upload(services.sessions, services.settings, mine, lists.b)
    assert template_draft(services.sessions, FIRST_LIST_ID) is None  # the draft is B's
    draft = template_draft(services.sessions, lists.b)
    assert draft is not None
    use_draft(services.sessions, services.settings, draft, lists.b)
    assert template_draft(services.sessions, lists.b) is None
    assert "B'S OWN MASTHEAD" in services.publisher.rendered(lists.issue_b).html
    assert "B'S OWN MASTHEAD" not in services.publisher.rendered(lists.issue_a).html
    assert load_profile(services.sessions, services.settings).custom_template is None

    # B's template goes through the cage's limits like the first list's.
    deep = SHIPPED.replace(GREETING, "<mj-text>" + "<div>" * 12000 + "deep" + "</div>" * 12000 + "</mj-text>")
    with pytest.raises(TemplateRejected, match="nests tags 12005 deep; the limit is 100"):
        check_upload(services.sessions, services.settings, deep, lists.b)
    runaway = SHIPPED.replace(GREETING, "<mj-text>{% for i in range(100000) %}{% for j in range(100000) %}"
                                        "{% for k in range(2) %}{% endfor %}{% endfor %}{% endfor %}</mj-text>")
    with pytest.raises(TemplateRejected, match="CPU|time"):
        check_upload(services.sessions, services.settings, runaway, lists.b)

    # A's own template does not reach B, which keeps its own; B's reset is the shipped template.
    use_draft(services.sessions, services.settings, SHIPPED.replace(MASTHEAD, "<mj-section><mj-column><mj-text>"
                                                                    "A'S MASTHEAD</mj-text></mj-column></mj-section>"))
    assert "B'S OWN MASTHEAD" in services.publisher.rendered(lists.issue_b).html
    reset_template(services.sessions, services.settings, lists.b)
    b_html = services.publisher.rendered(lists.issue_b).html
    assert "B'S OWN MASTHEAD" not in b_html and "A'S MASTHEAD" not in b_html
    assert "A'S MASTHEAD" in services.publisher.rendered(lists.issue_a).html


def test_the_design_page_chooses_a_list_and_saves_only_its_design(client: TestClient, services: Services) -> None:
    lists = two_lists(services)
    log_in(client)
    page = client.get("/admin/design?list=tech-notes")
    assert page.status_code == 200 and "Design of Tech Notes" in page.text
    assert 'action="/admin/design?list=tech-notes"' in page.text
    assert "uses the first list's design until you change it" in html.unescape(page.text)
    assert client.get("/admin/design?list=nope").status_code == 404

    token = csrf(client, "/admin/design?list=tech-notes")
    saved = client.post("/admin/design?list=tech-notes",
                        data={**design_form(accent_text="#116611", footer_text="B footer"), "csrf_token": token})
    assert saved.status_code == 200 and "Design saved for Tech Notes" in saved.text
    assert str(saved.url).endswith("/admin/design?list=tech-notes")
    src = re.search(r'id="design-preview" src="([^"]+)"', saved.text)
    assert src and "list=tech-notes" in src.group(1)
    frame = client.get(src.group(1).replace("&amp;", "&")).text
    assert "color: #116611" in frame and "A tech piece" in frame and "A first-list piece" not in frame
    assert "#116611" not in client.get("/admin/design/preview.html").text  # the first list's preview
    assert load_profile(services.sessions, services.settings).accent_color == "#0b57d0"
    assert "color: #116611" in services.publisher.rendered(lists.issue_b).html
    assert "#116611" not in services.publisher.rendered(lists.issue_a).html

    bad = client.post("/admin/design?list=tech-notes", data={**design_form(accent_text="red"), "csrf_token": token})
    assert bad.status_code == 422 and "Nothing was saved" in bad.text
    assert profile_for(services.sessions, services.settings, lists.b).accent_color == "#116611"

    # The template page is B's too: an upload refused for B says why and keeps nothing.
    template = client.get("/admin/design/template?list=tech-notes")
    assert "Issue template of Tech Notes" in template.text
    assert 'action="/admin/design/template?list=tech-notes"' in template.text
    refused = client.post("/admin/design/template?list=tech-notes", data={"csrf_token": token},
                          files={"template_file": ("x.mjml", SHIPPED.replace(
                              '{% include "email/_footer.mjml.j2" %}', "").encode(), "text/plain")})
    assert refused.status_code == 422 and "no unsubscribe link" in upload_error(refused)
    assert template_draft(services.sessions, lists.b) is None

    follow = client.post("/admin/design/follow?list=tech-notes", data={"csrf_token": token})
    assert "uses the first list's design again" in html.unescape(follow.text)
    assert profile_for(services.sessions, services.settings, lists.b).accent_color == "#0b57d0"
