"""Uploading images in the admin: JSON for the picker's script, a message for a plain form, CSRF,
clear refusals; the design's logo uploaded, checked, and never breaking a preview."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from newsletter.issues.list_profile import load_profile, save_profile
from newsletter.issues.preflight import check_issue
from newsletter.services import Services
from tests.factories import this_weeks_issue
from tests.media.images import GPS_IFD, jpeg, png, png_bomb
from tests.web.admin.test_issues import csrf, log_in

JSON = {"accept": "application/json"}
MISSING = "0" * 64


def upload(client: TestClient, data: bytes, name: str = "photo.jpg", **form: str) -> object:
    token = csrf(client, "/admin/design")
    return client.post("/admin/media", data={"csrf_token": token, **form}, files={"image": (name, data, "image/jpeg")},
                       headers=JSON, follow_redirects=False)


def test_an_upload_needs_a_login_and_the_csrf_token(client: TestClient) -> None:
    files = {"image": ("a.png", png(), "image/png")}
    assert client.post("/admin/media", files=files, follow_redirects=False).status_code == 401  # log in first
    log_in(client)
    assert client.post("/admin/media", files=files, headers=JSON).status_code == 403


def test_a_phone_photo_is_stored_clean_and_served(client: TestClient, services: Services) -> None:
    log_in(client)
    response = upload(client, jpeg(3000, 2000, gps=True), alt="The [harbour] at dawn")
    assert response.status_code == 201  # type: ignore[attr-defined]
    item = response.json()  # type: ignore[attr-defined]
    assert item["url"] == f"http://newsletter.test/media/{item['key']}.jpg"
    assert (item["width"], item["height"]) == (1200, 800)
    assert item["markdown"] == f"![The \\[harbour\\] at dawn]({item['url']})"
    served = client.get(f"/media/{item['key']}.jpg")
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (1200, 800) and not image.getexif().get_ifd(GPS_IFD) and b"PhoneMaker" not in served.content
    assert upload(client, jpeg(3000, 2000, gps=True)).json()["key"] == item["key"]  # type: ignore[attr-defined]
    assert len([p for p in services.settings.media_path.rglob("*") if p.is_file()]) == 1


@pytest.mark.parametrize("data, message", [
    (b"hello, I am text in a file named photo.jpg", "not an image we can use: only JPEG, PNG, GIF and WebP"),
    (png(9000, 10, mode="RGB"), "the image is 9000 px wide; the limit is 8000"),
    (png_bomb(), "the limit is 8000 x 8000 px"),
])
def test_refusals_say_why(client: TestClient, services: Services, data: bytes, message: str) -> None:
    log_in(client)
    response = upload(client, data)
    assert response.status_code == 422 and message in response.json()["error"]  # type: ignore[attr-defined]
    assert not services.settings.media_path.exists() or not any(services.settings.media_path.rglob("*.*"))


def test_a_plain_form_comes_back_with_the_markdown(client: TestClient) -> None:
    log_in(client)
    token = csrf(client, "/admin/design")
    response = client.post("/admin/media", data={"csrf_token": token, "next": "/admin/design", "alt": "A map"},
                           files={"image": ("map.png", png(), "image/png")}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin/design"
    page = client.get("/admin/design").text
    assert "Image stored (40 x 30 px)" in page and "![A map](http://newsletter.test/media/" in page
    bad = client.post("/admin/media", data={"csrf_token": token, "next": "https://evil.example/"},
                      files={"image": ("x.jpg", b"nope", "image/jpeg")}, follow_redirects=False)
    assert bad.headers["location"] == "/admin/issues"  # never off the admin
    assert "The image was not stored: not an image we can use" in client.get("/admin/issues").text


def test_the_logo_can_be_uploaded_and_previews_show_it(client: TestClient, services: Services) -> None:
    this_weeks_issue(services, "A piece with a logo above it")
    log_in(client)
    token = csrf(client, "/admin/design")
    response = client.post("/admin/design/logo", data={"csrf_token": token},
                           files={"logo_file": ("logo.png", png(480, 120), "image/png")}, follow_redirects=False)
    assert response.status_code == 303
    logo = load_profile(services.sessions, services.settings).logo_url
    assert logo.startswith("http://newsletter.test/media/") and logo.endswith(".png")
    assert "Logo uploaded (480 x 120 px) and saved" in client.get("/admin/design").text
    assert f'src="{logo}"' in client.get("/admin/design/preview.html").text
    refused = client.post("/admin/design/logo", data={"csrf_token": token},
                          files={"logo_file": ("logo.png", b"GIF89a but not really", "image/gif")})
    assert refused.status_code == 422 and "Not stored: not an image we can use" in refused.text
    assert load_profile(services.sessions, services.settings).logo_url == logo


def test_a_broken_logo_previews_without_it_and_preflight_warns(client: TestClient, services: Services) -> None:
    issue = this_weeks_issue(services, "A piece under a missing logo")
    broken = f"http://newsletter.test/media/{MISSING}.png"
    save_profile(services.sessions, services.settings, logo_url=broken)  # e.g. the media folder was lost
    log_in(client)
    preview = client.get("/admin/design/preview.html")
    assert preview.status_code == 200 and "A piece under a missing logo" in preview.text and broken not in preview.text
    assert "The logo's image is missing from the media store" in client.get("/admin/design").text
    warnings = {f.code: f.message for f in check_issue(services, issue).warnings}
    assert broken in warnings["logo-missing"]
    # Typed by hand, our own missing address is refused at once; someone else's is not fetched.
    token = csrf(client, "/admin/design")
    form = {"csrf_token": token, "accent_color": "#0b57d0", "accent_text": "#0b57d0",
            "font_family": "Classic serif", "footer_text": ""}
    refused = client.post("/admin/design", data={**form, "logo_url": broken})
    assert refused.status_code == 422 and "no uploaded image at this address" in refused.text
    ok = client.post("/admin/design", data={**form, "logo_url": "https://cdn.example/logo.png"}, follow_redirects=False)
    assert ok.status_code == 303


def test_preflight_names_the_article_with_a_missing_image(client: TestClient, services: Services) -> None:
    kept = services.media.add(png())
    gone = f"http://newsletter.test/media/{MISSING}.jpg"
    issue = this_weeks_issue(services, "Harbour notes", paragraphs=[f"![a boat]({gone}) and ![a map]({kept.url})"])
    warnings = [f.message for f in check_issue(services, issue).warnings if f.code == "image-missing"]
    assert len(warnings) == 1 and "'Harbour notes'" in warnings[0] and gone in warnings[0]
