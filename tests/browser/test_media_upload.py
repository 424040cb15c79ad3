"""The image picker on the article page in headless chromium: a file chosen with the picker and a
file dropped on the drop zone are uploaded, shown, and their Markdown lands in the body; the
feature image uploaded, saved and removed; axe-core, no console errors, and 320 px screens."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import Browser, expect

from tests.axe import assert_accessible
from tests.browser import LiveSite, browser_log_in, scroll_width
from tests.browser import browser as browser, site as site  # noqa: F401  (fixtures)
from tests.media.images import jpeg, png

pytestmark = pytest.mark.browser

DROP = """async ([data, name, where]) => {
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "image/png" }));
  const zone = document.querySelector((where || ".media-picker") + " [data-media-drop]");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
  }
}"""


def test_pick_and_drop_images_into_an_article(browser: Browser, site: LiveSite) -> None:
    page = browser.new_page(viewport={"width": 320, "height": 800})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    browser_log_in(page, site, "/admin/articles/new")
    assert_accessible(page)
    assert scroll_width(page) <= 320
    body = page.locator("#body_markdown")
    body.fill("First paragraph.")

    page.get_by_label("Description for readers").fill("A red square")
    page.set_input_files("#media-file", files=[{"name": "square.jpg", "mimeType": "image/jpeg",
                                                "buffer": jpeg(2400, 1200, gps=True)}])
    status = page.locator(".media-picker [data-media-status]")  # the body's picker, not the feature image's
    expect(status).to_contain_text("Image stored (1200 x 600 px)")
    value = body.input_value()
    assert value.startswith(f"First paragraph.\n\n![A red square]({site.url}/media/") and ".jpg)" in value
    preview = page.locator(".media-picker [data-media-preview]")
    expect(preview).to_be_visible()
    # Served from /media/: wait for the browser to load it (a loaded machine may take a moment).
    preview.element_handle().wait_for_element_state("visible")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    assert preview.evaluate("img => img.naturalWidth") == 1200

    page.get_by_label("Description for readers").fill("")
    page.evaluate(DROP, [base64.b64encode(png(64, 32)).decode(), "dropped.png", None])
    expect(status).to_contain_text("Image stored (64 x 32 px)")
    assert "![describe the image](" in body.input_value() and ".png)" in body.input_value()
    selected = body.evaluate("t => t.value.slice(t.selectionStart, t.selectionEnd)")
    assert selected == "describe the image"  # ready to be typed over
    assert not errors, errors

    # Refused (the browser logs the 422 itself): the reason is shown where the status was.
    page.evaluate(DROP, [base64.b64encode(b"not an image at all").decode(), "notes.png", None])
    expect(status).to_contain_text("The image was not stored: not an image we can use")
    assert_accessible(page)


def test_a_feature_image_is_uploaded_saved_and_removed(browser: Browser, site: LiveSite) -> None:
    from newsletter.content.articles import get_article, list_articles

    page = browser.new_page(viewport={"width": 320, "height": 800})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    browser_log_in(page, site, "/admin/articles/new")
    page.locator("#title").fill("Harbour at dawn")
    page.locator("#body_markdown").fill("The lamps came on one by one.")

    feature = page.locator("#feature-image")
    page.set_input_files("#feature-file", files=[{"name": "dawn.jpg", "mimeType": "image/jpeg",
                                                  "buffer": jpeg(1600, 800)}])
    expect(feature.locator("[data-media-status]")).to_contain_text("Image stored (1200 x 600 px) as the feature image")
    url = page.locator("#image_url").input_value()
    assert url.startswith(f"{site.url}/media/") and url.endswith(".jpg")
    assert page.locator("#body_markdown").input_value() == "The lamps came on one by one."  # not put in the body
    expect(feature.locator("[data-media-preview]")).to_be_visible()
    page.locator("#image_credit").fill("Sea Writer")
    page.get_by_role("button", name="Add article").click()
    page.wait_for_url(f"{site.url}/admin/articles/*")

    [article] = list_articles(site.services.sessions)
    assert (article.image_url, article.image_credit) == (url, "Sea Writer")
    # The preview frame shows the email with the picture at the top.
    frame = page.frame_locator("#article-preview")
    expect(frame.locator(f'img[src="{url}"]')).to_have_count(1)
    assert_accessible(page)
    assert scroll_width(page) <= 320

    # With the script, Remove is a button (the no-script box is hidden); autosave carries it.
    expect(page.locator("[data-feature-remove-box]")).to_be_hidden()
    page.get_by_role("button", name="Remove the feature image").click()
    assert page.locator("#image_url").input_value() == "" and page.locator("#image_credit").input_value() == ""
    expect(page.locator("#save-status")).to_contain_text("Saved at", timeout=15_000)
    assert get_article(site.services.sessions, article.id).image_url == ""
    expect(feature.locator("[data-media-preview]")).to_be_hidden()

    # A file dropped on the address field is uploaded and set too.
    page.evaluate(DROP, [base64.b64encode(png(64, 32)).decode(), "dropped.png", "#feature-image"])
    expect(feature.locator("[data-media-status]")).to_contain_text("Image stored (64 x 32 px)")
    assert page.locator("#image_url").input_value().endswith(".png")
    assert not errors, errors
