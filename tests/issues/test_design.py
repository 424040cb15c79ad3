"""The design in the rendered emails (accent, logo, font, footer, the view-in-browser link) and
the custom issue template: refused with the line at fault, previewed, used, reset."""

from __future__ import annotations

import email
import email.policy
import html
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from newsletter.issues.compose import compose
from newsletter.config import Settings, load_settings
from newsletter.render.custom_template import TemplateRejected, check_upload, render_preview, reset_template, use_draft
from newsletter.delivery.dispatch import Worker
from newsletter.issues.list_profile import FONT_STACKS, load_profile, load_template_draft, save_profile
from newsletter.render.issue import TemplateLimitExceeded, render_confirmation, render_welcome
from newsletter.services import Services
from newsletter.web import create_app
from tests.factories import add_article, add_subscribers
from tests.media.images import png
from tests.web.admin.test_issues import PASSWORD, csrf, log_in

SHIPPED = (Settings().templates_dir / "email" / "issue.mjml.j2").read_text()


def new_issue(services: Services) -> int:
    add_article(services.sessions, "The lead story", paragraphs=["Its first paragraph."])
    return compose(services.sessions, services.settings).issue_id


def test_the_design_shows_in_the_issue_and_the_confirmation(services: Services, settings: Settings) -> None:
    issue_id = new_issue(services)
    logo = services.media.add(png(480, 120)).url  # an uploaded logo (one typed as an address is copied on save)
    save_profile(services.sessions, settings, accent_color="#aa3300", logo_url=logo,
                 font_family="Classic serif", footer_text="Field Notes Ltd\n1 High Street, Bristol")
    html = services.publisher.rendered(issue_id).html
    assert "color: #aa3300" in html  # links
    assert "#aa3300" in re.search(r"border-top:solid 4px [^;]+;", html).group(0)  # type: ignore[union-attr]
    assert re.search(rf'<img [^>]*alt="The Test Briefing"[^>]*src="{re.escape(logo)}"', html)
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
        (SHIPPED.replace("{% endfor %}", "{% endfr %}", 1), 25, "endfr"),
        (SHIPPED.replace("{{ archive_url }}", "{{ archive_url ", 1), 13, "expected token"),
        (SHIPPED.replace("{{ archive_url }}", "{{ no_such_thing.x }}", 1), 13, "no_such_thing"),
        (SHIPPED.replace("</mj-column>", "", 1), 15, "</mj-section> found where </mj-column>"),
        (SHIPPED.replace('<mj-spacer height="8px" />', '<mj-spacr height="8px" />'), 72, "unknown MJML element <mj-spacr>"),
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
    with pytest.raises(TemplateRejected, match="line 13: .*unsafe"):
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


# -- the cage (newsletter.render.cage): no template may crash, freeze or starve the server

GREETING = "<mj-text>{{ slot.greeting }}</mj-text>"
# 2e10 steps: without the cage this never returned, and held every other request meanwhile.
RUNAWAY = SHIPPED.replace(GREETING, "<mj-text>{% for i in range(100000) %}{% for j in range(100000) %}"
                                    "{% for k in range(2) %}{% endfor %}{% endfor %}{% endfor %}</mj-text>")


def upload_error(response: httpx.Response) -> str:
    match = re.search(r'id="template_file-error"[^>]*>(.*?)</p>', response.text, re.S)
    assert match, "no error message on the page"
    return html.unescape(match.group(1))


def test_a_template_nesting_12000_deep_is_refused_and_the_server_lives_on(client: TestClient) -> None:
    # 130 kB, under the size limit; mjml-python's stack overflow killed the whole server.
    deep = SHIPPED.replace(GREETING, "<mj-text>" + "<div>" * 12000 + "deep" + "</div>" * 12000 + "</mj-text>")
    line = SHIPPED[:SHIPPED.index(GREETING)].count("\n") + 1
    log_in(client, "/admin/design/template")
    token = csrf(client, "/admin/design/template")
    response = client.post("/admin/design/template", data={"csrf_token": token},
                           files={"template_file": ("deep.mjml", deep.encode(), "text/plain")})
    assert response.status_code == 422
    assert upload_error(response) == f"Not accepted: line {line}: the template nests tags 12005 deep; the limit is 100"
    assert client.get("/admin/design/template").status_code == 200  # still up


def test_a_template_of_unclosed_tags_is_refused_at_once(services: Services, settings: Settings) -> None:
    # 198 kB of "<mj-text " without ">": the tag check rescanned to the end for each one (about
    # 20 minutes of CPU in the server); each scan now stops at the next "<".
    with pytest.raises(TemplateRejected, match="MJML error"):
        check_upload(services.sessions, settings, "<mj-text " * 22000)


def test_a_template_in_use_cannot_hang_a_send(services: Services, settings: Settings) -> None:
    # Stored directly (as a template that passed an older check would be): the worker, the
    # scheduler and the editor all render through the Publisher, which renders in the cage.
    issue_id = new_issue(services)
    save_profile(services.sessions, settings, custom_template=RUNAWAY)
    with pytest.raises(TemplateLimitExceeded, match="the template used more than 2 s of CPU; the limit is 2 s"):
        services.publisher.rendered(issue_id)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    """The app under a real uvicorn (its event loop in a thread, routes in its thread pool)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = load_settings(
        data_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'live.db'}", base_url=url,
        from_address="The Test Briefing <briefing@example.org>", list_name="The Test Briefing",
        backend="memory", secret_key="test-secret-key", admin_password=PASSWORD, smtp_tls="none",
    )
    services = Services.build(settings)
    server = uvicorn.Server(uvicorn.Config(create_app(services), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:  # a wait, bounded by the test timeout
        assert thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        services.close()


def caged_child() -> int | None:
    """The pid of a caged render running under this process, if there is one."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == os.getpid() and b"newsletter.render.cage_child" in cmdline:
            return int(entry.name)
    return None


def test_a_runaway_template_is_stopped_while_the_server_answers_others(live: str) -> None:
    editor = httpx.Client(base_url=live, timeout=120, follow_redirects=True)
    response = editor.post("/admin/login", data={"password": PASSWORD, "next": "/admin/design/template"})
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, "not logged in"
    answered: list[str] = []

    def upload() -> None:
        reply = editor.post("/admin/design/template", data={"csrf_token": match.group(1)},
                            files={"template_file": ("loops.mjml", RUNAWAY.encode(), "text/plain")})
        answered.append("upload")
        replies.append(reply)

    replies: list[httpx.Response] = []
    uploading = threading.Thread(target=upload)
    uploading.start()
    # The render has started once its child process runs; it is held stopped while a reader's
    # request goes through, so the order below does not depend on how fast either is.
    while (child := caged_child()) is None:
        assert uploading.is_alive(), "the upload was answered without a caged render"
        time.sleep(0.01)
    os.kill(child, signal.SIGSTOP)
    try:
        reader = httpx.get(f"{live}/subscribe", timeout=60)
        answered.append("reader")
    finally:
        os.kill(child, signal.SIGCONT)
    uploading.join()
    assert reader.status_code == 200
    assert answered == ["reader", "upload"]
    [reply] = replies
    assert reply.status_code == 422
    assert upload_error(reply) == "Not accepted: the template used more than 2 s of CPU; the limit is 2 s"
    assert httpx.get(f"{live}/subscribe").status_code == 200
