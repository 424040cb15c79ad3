"""The shipped email templates render in mjml-python (MRML) as they do in the reference mjml.

Each shipped template (issue, confirmation, welcome) is rendered through our pipeline; the MJML
it hands to mjml-python is also given to the reference `mjml` from npm (`make test` installs
it). Both HTML documents are then opened in chromium at 600 px and 375 px: a reader must see
the same text, the same links and the same images, laid out to about the same height.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mjml
import pytest
from playwright.sync_api import Browser

from newsletter.issues.compose import compose
from newsletter.config import Settings
from newsletter.issues.list_profile import load_profile
from newsletter.issues.models import Issue
from newsletter.render.issue import render_confirmation, render_issue, render_welcome
from newsletter.services import Services
from tests.browser import browser as browser  # noqa: F401  (fixture)
from tests.factories import add_article

pytestmark = pytest.mark.browser

REFERENCE = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "mjml"
SEEN = """() => ({
  text: document.body.innerText.replace(/\\s+/g, " ").trim(),
  links: [...document.querySelectorAll("a[href]")].map(a => a.getAttribute("href")),
  images: [...document.querySelectorAll("img")].map(i => [i.getAttribute("src"), i.getAttribute("alt")]),
  height: document.documentElement.scrollHeight,
  width: document.documentElement.scrollWidth,
})"""


def _reference(source: str) -> str:
    if not REFERENCE.exists():
        pytest.fail(f"{REFERENCE} is missing: run `make test` (it installs mjml from npm)")
    done = subprocess.run([str(REFERENCE), "-i", "-s"], input=source, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _sources(monkeypatch: pytest.MonkeyPatch, render: Callable[[], Any]) -> list[str]:
    """The MJML documents our pipeline hands to mjml-python while `render` runs."""
    seen: list[str] = []
    real = mjml.mjml2html

    def recording(source: str, *args: Any, **kwargs: Any) -> str:
        seen.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(mjml, "mjml2html", recording)
    render()
    assert seen, "the pipeline rendered no MJML"
    return seen


@pytest.fixture
def shipped(services: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    add_article(services.sessions, "Rivers of the North", paragraphs=["The first paragraph.", "A second one."],
                pull_quotes=["A quote worth pulling."], author="A. Writer")
    issue_id = compose(services.sessions, settings).issue_id
    profile = load_profile(services.sessions, settings)

    def issue() -> None:
        with services.sessions() as session:
            found = session.get(Issue, issue_id)
            assert found is not None
            render_issue(found, settings, profile)

    return {
        "issue": _sources(monkeypatch, issue)[-1],
        "confirm": _sources(monkeypatch, lambda: render_confirmation(settings, "https://news.example/confirm/t", "Ana"))[-1],
        "welcome": _sources(monkeypatch, lambda: render_welcome(
            settings, profile, "Ana", unsubscribe_url="https://news.example/unsubscribe/t",
            preferences_url="https://news.example/preferences/t"))[-1],
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("template", ["issue", "confirm", "welcome"])
def test_mjml_python_renders_as_the_reference_mjml(shipped: dict[str, str], browser: Browser, template: str) -> None:
    source = shipped[template]
    ours, theirs = mjml.mjml2html(source), _reference(source)
    for width in (600, 375):
        seen = []
        for html in (ours, theirs):
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.set_content(html)
            seen.append(page.evaluate(SEEN))
            page.close()
        mine, reference = seen
        assert mine["text"] == reference["text"], f"{template} at {width} px: the visible text differs"
        assert mine["links"] == reference["links"], f"{template} at {width} px: the links differ"
        assert mine["images"] == reference["images"], f"{template} at {width} px: the images differ"
        assert mine["width"] <= width and reference["width"] <= width
        assert abs(mine["height"] - reference["height"]) <= 0.05 * reference["height"], (
            f"{template} at {width} px: {mine['height']} px tall in mjml-python, {reference['height']} px in mjml"
        )
    assert re.search(r"<mj-body", source)  # it was MJML that both rendered
