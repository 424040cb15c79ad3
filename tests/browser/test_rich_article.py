"""A rich article's e-mail in chromium at 320 px: a wide image, a long link card, lists and a
heading fit the phone without sideways scrolling, the image keeps its alt text, and axe finds
nothing serious."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route

from newsletter.content import blocks
from newsletter.content.ingest.markdown_blocks import markdown_blocks
from newsletter.render.issue import fill_html, render_issue
from tests.axe import assert_accessible
from tests.browser import scroll_width
from tests.browser import browser as browser  # noqa: F401  (fixture)
from tests.render.test_render import make_article, make_issue, make_settings

pytestmark = pytest.mark.browser

# A 1x1 PNG: the image is served by the test, so no request leaves the machine.
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
BODY = (
    "Read [the full report](https://example.org/report) with **bold** claims.\n\n## What changed\n\n"
    "- a point\n- another point\n\n"
    "![A flooded street, seen from a bridge](https://img.example.org/flood.png)\n\n"
    "https://example.org/a/very/long/address/that/goes/on/and/on/without/any/spaces/to/break/it/at/all\n"
)


def test_a_rich_article_fits_a_phone(browser: Browser, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    body = markdown_blocks(BODY)
    # As a feed gives it: a 1200 px wide image, sized in the HTML.
    body = [blocks.Image(b.src, b.alt, width=1200, height=800) if isinstance(b, blocks.Image) else b for b in body]
    article = make_article(body=blocks.serialise(body), paragraphs=[], pull_quotes=[], image_url="")
    html = fill_html(render_issue(make_issue(article), settings).html, None, base_url=settings.base_url)

    page = browser.new_page(viewport={"width": 320, "height": 640})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # type: ignore[func-returns-value]
    page.route("https://img.example.org/**", lambda route: route.fulfill(body=PIXEL, content_type="image/png"))

    def no_network(route: Route) -> None:
        route.fulfill(status=204)

    page.route("http://newsletter.test/**", no_network)
    page.set_content(html)
    image = page.get_by_role("img", name="A flooded street, seen from a bridge")
    assert image.is_visible() and image.bounding_box()["width"] <= 320  # type: ignore[index]
    assert page.get_by_role("link", name="the full report").get_attribute("href") == "https://example.org/report"
    assert page.get_by_role("heading", name="What changed").is_visible()
    assert page.get_by_role("listitem").filter(has_text="another point").is_visible()
    assert scroll_width(page) <= 320, "the article scrolls sideways at 320 px"
    assert_accessible(page)
    assert not errors, errors
    page.close()
