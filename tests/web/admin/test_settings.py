"""The settings and design pages through the real app: forms, messages beside the fields, CSRF,
escaping, the preview, and the custom template's upload, use and reset."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from newsletter.issues.compose import compose
from newsletter.config import Settings
from newsletter.issues.list_profile import load_profile, load_template_draft
from newsletter.services import Services
from tests.factories import add_article
from tests.web.admin.test_issues import csrf, log_in

SHIPPED = (Settings().templates_dir / "email" / "issue.mjml.j2").read_text()
XSS = "<script>alert(1)</script>"
PAGES = ["/admin/settings", "/admin/design", "/admin/design/template", "/admin/issues", "/subscribe", "/archive"]


def settings_form(**changes: str) -> dict[str, str]:
    form = {"list_name": "Field Notes", "from_address": "Field Notes <notes@example.com>", "rate_per_second": "0",
            "rate_per_hour": "0", "welcome_subject": "", "welcome_body_markdown": ""}
    return {**form, **changes}


def design_form(**changes: str) -> dict[str, str]:
    form = {"logo_url": "", "accent_color": "#0b57d0", "accent_text": "#0b57d0",
            "font_family": "Classic serif", "footer_text": ""}
    return {**form, **changes}


def field_error(page: str, field: str) -> str:
    match = re.search(rf'<p class="message error field-error" id="{field}-error"[^>]*>([^<]*)</p>', page)
    assert match, f"no message beside {field}"
    return match.group(1)


@pytest.mark.parametrize("path", ["/admin/settings", "/admin/design", "/admin/design/template",
                                  "/admin/design/preview.html"])
def test_the_pages_need_a_login(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")


def test_saving_settings_needs_the_csrf_token(client: TestClient, services: Services, settings: Settings) -> None:
    log_in(client)
    response = client.post("/admin/settings", data=settings_form(), follow_redirects=False)
    assert response.status_code in (400, 403)
    assert load_profile(services.sessions, settings).list_name == "The Test Briefing"


def test_settings_are_saved_and_shown(client: TestClient, services: Services, settings: Settings) -> None:
    log_in(client)
    token = csrf(client, "/admin/settings")
    form = settings_form(rate_per_second="3", tracking_enabled="1", welcome_enabled="1",
                         welcome_subject="Hello there", welcome_body_markdown="Thanks **a lot**.")
    response = client.post("/admin/settings", data={**form, "csrf_token": token})
    assert response.status_code == 200 and "Settings saved" in response.text
    assert "restart" in response.text  # sending limits apply when a worker starts
    profile = load_profile(services.sessions, settings)
    assert (profile.list_name, profile.from_address, profile.rate_per_second) == (
        "Field Notes", "Field Notes <notes@example.com>", 3.0)
    assert profile.tracking_enabled and profile.welcome_enabled
    assert (profile.welcome_subject, profile.welcome_body_markdown) == ("Hello there", "Thanks **a lot**.")
    page = response.text
    assert 'value="Field Notes"' in page and 'id="tracking_enabled" name="tracking_enabled" value="1" checked' in page
    assert 'href="/admin/schedule"' in page

    # Unticked boxes turn the switches off again.
    client.post("/admin/settings", data={**settings_form(), "csrf_token": token})
    profile = load_profile(services.sessions, settings)
    assert not profile.tracking_enabled and not profile.welcome_enabled


def test_bad_settings_get_a_message_beside_each_field(client: TestClient, services: Services, settings: Settings) -> None:
    log_in(client)
    token = csrf(client, "/admin/settings")
    form = settings_form(from_address="nobody", rate_per_hour="lots", list_name=XSS)
    response = client.post("/admin/settings", data={**form, "csrf_token": token})
    assert response.status_code == 422
    assert "address" in field_error(response.text, "from_address")
    assert "whole number" in field_error(response.text, "rate_per_hour")
    assert 'aria-invalid="true"' in response.text
    assert 'value="nobody"' in response.text  # what they typed is kept
    assert XSS not in response.text and "&lt;script&gt;" in response.text
    assert load_profile(services.sessions, settings).list_name == "The Test Briefing"


def test_script_in_list_name_and_footer_is_escaped_on_every_page(
    client: TestClient, services: Services, settings: Settings
) -> None:
    log_in(client)
    token = csrf(client, "/admin/settings")
    assert client.post("/admin/settings", data={**settings_form(list_name=XSS), "csrf_token": token}).status_code == 200
    response = client.post("/admin/design", data={**design_form(footer_text=XSS), "csrf_token": token})
    assert response.status_code == 200
    for path in PAGES:
        page = client.get(path).text
        assert XSS not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
    preview = client.get("/admin/design/preview.html").text
    assert XSS not in preview and "&lt;script&gt;alert(1)&lt;/script&gt;" in preview


def test_the_design_is_saved_and_the_preview_follows_the_form(
    client: TestClient, services: Services, settings: Settings
) -> None:
    add_article(services.sessions, "The lead story")
    compose(services.sessions, settings)
    log_in(client)
    token = csrf(client, "/admin/design")
    # The preview button (no JavaScript): shows, saves nothing.
    response = client.post("/admin/design/preview", data={**design_form(accent_text="#aa3300"), "csrf_token": token})
    assert response.status_code == 200 and "not saved yet" in response.text
    src = re.search(r'id="design-preview" src="([^"]+)"', response.text)
    assert src and "accent_color=%23aa3300" in src.group(1)
    frame = client.get(src.group(1).replace("&amp;", "&"))
    assert "color: #aa3300" in frame.text and "The lead story" in frame.text
    assert load_profile(services.sessions, settings).accent_color == "#0b57d0"

    response = client.post("/admin/design", data={**design_form(accent_color="#116611", footer_text="Our footer"),
                                                   "csrf_token": token})
    assert "Design saved" in response.text
    profile = load_profile(services.sessions, settings)
    assert (profile.accent_color, profile.footer_text) == ("#116611", "Our footer")
    assert "Our footer" in client.get("/admin/design/preview.html").text


def test_bad_design_values_get_messages_and_a_low_contrast_warning(client: TestClient) -> None:
    log_in(client)
    token = csrf(client, "/admin/design")
    response = client.post("/admin/design", data={**design_form(accent_text="blue", logo_url="javascript:x"),
                                                  "csrf_token": token})
    assert response.status_code == 422
    assert "#rrggbb" in field_error(response.text, "accent_color")
    assert "http" in field_error(response.text, "logo_url")
    response = client.post("/admin/design/preview", data={**design_form(accent_text="#ffff66"), "csrf_token": token})
    assert "hard to read" in response.text


def upload(client: TestClient, token: str, source: str) -> str:
    response = client.post("/admin/design/template", data={"csrf_token": token},
                           files={"template_file": ("issue.mjml", source.encode(), "text/plain")})
    return response.text


def test_a_broken_template_upload_says_which_line(client: TestClient, services: Services) -> None:
    log_in(client)
    token = csrf(client, "/admin/design/template")
    page = upload(client, token, SHIPPED.replace("{% endfor %}", "{% endfr %}", 1))
    assert "line 25: " in field_error(page, "template_file")
    page = upload(client, token, SHIPPED.replace("</mj-column>", "", 1))
    assert "line 15: &lt;/mj-section&gt; found where &lt;/mj-column&gt;" in field_error(page, "template_file")
    assert load_template_draft(services.sessions) is None
    empty = client.post("/admin/design/template", data={"csrf_token": token})
    assert empty.status_code == 422 and "Choose a template file" in empty.text


def test_a_template_is_uploaded_previewed_used_and_reset(
    client: TestClient, services: Services, settings: Settings
) -> None:
    add_article(services.sessions, "The lead story")
    issue_id = compose(services.sessions, settings).issue_id
    log_in(client)
    token = csrf(client, "/admin/design/template")
    mine = SHIPPED.replace('{% include "email/_header.mjml.j2" %}',
                           "<mj-section><mj-column><mj-text>MY MASTHEAD</mj-text></mj-column></mj-section>")
    page = upload(client, token, mine)
    assert "Check the preview" in page and "Use this template" in page
    assert "MY MASTHEAD" in client.get("/admin/design/template/preview.html").text
    assert "MY MASTHEAD" not in client.get(f"/admin/issues/{issue_id}/preview.html").text

    page = client.post("/admin/design/template/use", data={"csrf_token": token}).text
    assert "Your template is in use" in page
    assert "MY MASTHEAD" in client.get(f"/admin/issues/{issue_id}/preview.html").text
    download = client.get("/admin/design/template.mjml")
    assert "MY MASTHEAD" in download.text

    page = client.post("/admin/design/template/reset", data={"csrf_token": token}).text
    assert "Back to the shipped template" in page
    assert "MY MASTHEAD" not in client.get(f"/admin/issues/{issue_id}/preview.html").text
    assert client.post("/admin/design/template/use", data={"csrf_token": token}).status_code == 409


def test_template_forms_need_the_csrf_token(client: TestClient, services: Services, settings: Settings) -> None:
    log_in(client)
    response = client.post("/admin/design/template", files={"template_file": ("a.mjml", SHIPPED.encode(), "text/plain")},
                           follow_redirects=False)
    assert response.status_code in (400, 403)
    assert client.post("/admin/design/template/reset", follow_redirects=False).status_code in (400, 403)
    assert load_template_draft(services.sessions) is None
