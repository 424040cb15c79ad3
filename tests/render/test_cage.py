"""The cage an editor's template renders in (newsletter.render.cage): a child process with CPU,
memory, output and nesting-depth limits, whose every failure is a TemplateError naming the limit,
never a crashed or frozen caller. (The upload page over HTTP: tests/issues/test_design.py.)"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.issues.list_profile import resolve
from newsletter.render import cage
from newsletter.render.issue import TemplateError, TemplateLimitExceeded, render_issue, render_welcome
from tests.render.test_render import make_issue, make_settings

SHIPPED = (Settings().templates_dir / "email" / "issue.mjml.j2").read_text()
GREETING = "{{ slot.greeting }}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:  # no database here
    return make_settings(tmp_path)


def caged(settings: Settings, source: str) -> str:
    """The message of the TemplateLimitExceeded that rendering with ``source`` raises."""
    with pytest.raises(TemplateLimitExceeded) as caught:
        render_issue(make_issue(), settings, template_source=source)
    return str(caught.value)


def test_a_custom_template_renders_exactly_as_the_shipped_one(settings: Settings) -> None:
    # The shipped layout uploaded as the editor's own: caged, yet the same bytes (curly quotes,
    # slot markers and all) as the shipped layout rendered in this process.
    assert render_issue(make_issue(), settings, template_source=SHIPPED) == render_issue(make_issue(), settings)


def test_tags_nested_too_deep_after_jinja_are_refused_before_mjml_sees_them(settings: Settings) -> None:
    # Few tags in the source, 12,000 levels once the loops ran: this crashed mjml-python.
    deep = "{% for i in range(12000) %}<div>{% endfor %}x{% for i in range(12000) %}</div>{% endfor %}"
    message = caged(settings, SHIPPED.replace(GREETING, deep))
    assert message == ("email/custom-issue.mjml.j2: once rendered, the template nests tags 12005 deep; "
                       "the limit is 100")


def test_a_template_with_huge_output_hits_the_output_limit(settings: Settings) -> None:
    flood = "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}"  # 10 MB of MJML
    message = caged(settings, SHIPPED.replace(GREETING, flood))
    assert message.endswith("the template's output is larger than 4 MB; the limit is 4 MB")


def test_a_template_that_asks_for_too_much_memory_hits_the_memory_limit(settings: Settings) -> None:
    message = caged(settings, SHIPPED.replace(GREETING, "{{ 'x' * 2**30 }}"))  # 1 GB at once
    assert message.endswith("the template used more than 512 MB of memory; the limit is 512 MB")


def test_a_crashed_renderer_is_an_error_not_a_dead_caller(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cage, "CHILD_MODULE", "tests.render.misbehaving_child")
    with pytest.raises(TemplateError, match=r"the template crashed the renderer \(SIGSEGV\)"):
        render_issue(make_issue(), settings, template_source="segfault")


def test_a_renderer_that_never_answers_is_stopped_by_the_wall_clock(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cage, "CHILD_MODULE", "tests.render.misbehaving_child")
    limits = dataclasses.replace(cage.LIMITS, wall_seconds=0.5)
    with pytest.raises(TemplateLimitExceeded, match=r"took longer than 0\.5 s to render; the limit is 0\.5 s"):
        cage.render_caged(settings.templates_dir, "hang", {}, limits)


def test_the_welcome_email_cannot_nest_tags_past_the_limit(settings: Settings) -> None:
    # The editor's Markdown may hold raw HTML: 4,000 nested <div> fit in its 20,000 characters
    # and crash mjml-python on a 2 MB thread stack. The shipped templates get the depth check too.
    body = "<div>" * 150 + "Welcome!" + "</div>" * 150
    profile = dataclasses.replace(resolve(None, settings), welcome_body_markdown=body)
    with pytest.raises(TemplateLimitExceeded, match=r"nests tags 15\d deep; the limit is 100"):
        render_welcome(settings, profile, "Ana")


def test_the_child_imports_no_database_web_or_settings_code() -> None:
    # What keeps a caged render's start cheap (~0.1 s); a heavy import here would slow every one.
    code = ("import sys, newsletter.render.cage_child; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'fastapi', 'pydantic', 'starlette'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
