"""Checks of an editor's template source before Jinja runs, each naming the line at fault:
tags nested too deep, and MJML elements that are unknown, unclosed or closed in the wrong order
(the MJML parser gives no line, and quietly accepts some of these).

They run in the cage's child (``cage_child``) like the render itself, since a regular expression
over 200,000 hostile characters is work too.
"""

from __future__ import annotations

import re

from newsletter.render.layout import CUSTOM_HTML, MAX_DEPTH, TemplateError, TemplateLimitExceeded, depth_message, nesting

# Elements of MJML 4 that mjml-python renders; mj-include is left out on purpose (it reads files).
KNOWN_ELEMENTS = frozenset(
    """mjml mj-head mj-body mj-attributes mj-all mj-class mj-style mj-title mj-preview mj-font
    mj-breakpoint mj-html-attributes mj-html-attribute mj-selector mj-section mj-column mj-group
    mj-wrapper mj-hero mj-text mj-image mj-button mj-divider mj-spacer mj-table mj-raw mj-navbar
    mj-navbar-link mj-social mj-social-element mj-accordion mj-accordion-element
    mj-accordion-title mj-accordion-text mj-carousel mj-carousel-image""".split()
)
_OPENER = re.compile(r"\{\{|\{%|\{#|<!--")
_CLOSER = {"{{": "}}", "{%": "%}", "{#": "#}", "<!--": "-->"}
_NOT_NEWLINE = re.compile(r"[^\n]")
# No unquoted "<" inside a tag: a "<" without its ">" then fails at the next "<", not at the end
# of the text, so many of them cost linear, not quadratic, time.
_TAG = re.compile(r"<(/?)(mjml|mj-[a-zA-Z0-9-]+)((?:[^<>\"']|\"[^\"]*\"|'[^']*')*)>")


def blank_jinja(source: str) -> str:
    """``source`` with Jinja and comments blanked out, lines and offsets kept. An opener without
    its closer blanks the rest (Jinja or MJML refuses it anyway); found with str.find, as a lazy
    regular expression would rescan to the end for every unclosed one."""
    parts: list[str] = []
    at = 0
    while (opener := _OPENER.search(source, at)) is not None:
        closer = _CLOSER[opener.group()]
        end = source.find(closer, opener.end())
        end = len(source) if end == -1 else end + len(closer)
        parts += [source[at:opener.start()], _NOT_NEWLINE.sub(" ", source[opener.start():end])]
        at = end
    return "".join(parts) + source[at:]


class _Lines:
    """Line numbers of increasing offsets, counted once through the text."""

    def __init__(self, text: str) -> None:
        self._text, self._offset, self._line = text, 0, 1

    def of(self, offset: int) -> int:
        if offset < self._offset:
            self._offset, self._line = 0, 1
        self._line += self._text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line


def _rejected(message: str, line: int) -> TemplateError:
    return TemplateError(f"{CUSTOM_HTML}, line {line}: {message}", template=CUSTOM_HTML, lineno=line)


def check_depth(text: str) -> None:
    """Tags nested past MAX_DEPTH, at the line where they pass it: mjml-python recurses once
    per level and crashes. (The MJML is checked again after Jinja, e.g. for loops of tags.)"""
    deepest, past = nesting(text, MAX_DEPTH)
    if past is not None:
        line = _Lines(text).of(past)
        raise TemplateLimitExceeded(f"{CUSTOM_HTML}, line {line}: {depth_message(deepest)}",
                                    template=CUSTOM_HTML, lineno=line)


def check_tags(text: str) -> None:
    """Unknown, unclosed and mismatched MJML elements, with their line."""
    lines = _Lines(text)
    stack: list[tuple[str, int]] = []
    for match in _TAG.finditer(text):
        closing, name, rest = match.group(1) == "/", match.group(2).lower(), match.group(3)
        line = lines.of(match.start())
        if name == "mj-include":
            raise _rejected('<mj-include> is not allowed; use {% include "email/..." %} instead', line)
        if name not in KNOWN_ELEMENTS:
            raise _rejected(f"unknown MJML element <{name}>", line)
        if closing:
            if not stack:
                raise _rejected(f"</{name}> closes an element that was never opened", line)
            opened, opened_line = stack.pop()
            if opened != name:
                raise _rejected(f"</{name}> found where </{opened}> (opened on line {opened_line}) was expected", line)
        elif not rest.rstrip().endswith("/"):
            stack.append((name, line))
    if stack:
        name, line = stack[-1]
        raise _rejected(f"<{name}> is never closed", line)


def check_source(source: str) -> None:
    """Both checks, on the source with Jinja and comments blanked out (lines kept)."""
    text = blank_jinja(source)
    check_depth(text)
    check_tags(text)
