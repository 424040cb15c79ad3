"""What rendering produces: an issue's subject, HTML and text, rendered once for every reader.

Its own module so the send path (mail.message, delivery.dispatch) can name it without importing
the renderer (Jinja2, MJML, the article and media packages): that import cost the worker command
about half a second of start-up (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderedIssue:
    """An issue rendered once; ``html`` and ``text`` still hold the slot markers."""

    subject: str
    preheader: str
    html: str
    text: str
    web_html: str | None = None  # the archive's version when it differs (excerpt mode: whole articles)
