"""An article's blocks as the e-mail's HTML fragment (inside an <mj-text>), and the web version's.

The one place blocks become markup: every inline fragment is cleaned again here (stored HTML is
never trusted as it is), then inline styles are added, since many mail apps ignore <style>.
Class names (pull-quote) stay so the head's dark-mode rules still apply.
"""

from __future__ import annotations

import html
import re

from markupsafe import Markup

from newsletter.content import blocks as b
from newsletter.render.markers import scrub_markers

CONTENT_WIDTH = 552  # the 600px body less the text's 24px padding each side
MUTED = "#6b6b6b"
RULE = "#d8d2c4"
_LINK = re.compile(r'<a href="([^"]*)">')
_CODE = "font-family:Menlo,Consolas,'Courier New',monospace;font-size:0.9em;background-color:#f3efe6;padding:1px 4px;"
_HEADING_SIZES = {2: 22, 3: 19, 4: 17}


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def inline_html(fragment: str, accent: str) -> str:
    """A stored inline fragment cleaned again, its links coloured and its code set in monospace."""
    clean = scrub_markers(b.sanitise_inline(fragment))
    # nh3's output is normalised (attributes quoted, "<" in text escaped), so these tags are tags.
    styled = _LINK.sub(lambda m: f'<a href="{m.group(1)}" style="color:{_attr(accent)};text-decoration:underline;">', clean)
    return styled.replace("<code>", f'<code style="{_CODE}">')


def block_html(block: b.Block, accent: str) -> str:
    if isinstance(block, b.Paragraph):
        return f'<p style="margin:0px 0px 16px 0px;">{inline_html(block.html, accent)}</p>'
    if isinstance(block, b.Heading):
        size = _HEADING_SIZES.get(block.level, 17)
        return (f'<h{block.level} style="margin:24px 0px 8px 0px;font-size:{size}px;line-height:1.3;font-weight:bold;">'
                f"{inline_html(block.html, accent)}</h{block.level}>")
    if isinstance(block, b.ListBlock):
        tag = "ol" if block.ordered else "ul"
        items = "".join(f'<li style="margin:0px 0px 6px 0px;">{inline_html(item, accent)}</li>' for item in block.items)
        return f'<{tag} style="margin:0px 0px 16px 0px;padding:0px 0px 0px 24px;">{items}</{tag}>'
    if isinstance(block, b.Quote):
        return (f'<blockquote style="margin:0px 0px 16px 0px;padding:0px 0px 0px 16px;border-left:3px solid {RULE};'
                f'color:#444444;">{inline_html(block.html, accent)}</blockquote>')
    if isinstance(block, b.PullQuote):
        return f'<blockquote class="pull-quote">“{html.escape(scrub_markers(block.text))}”</blockquote>'
    if isinstance(block, b.Image):
        return _image(block)
    if isinstance(block, b.Divider):
        return f'<hr style="border:0px;border-top:1px solid {RULE};margin:24px 0px;height:0px;" />'
    if isinstance(block, b.LinkCard):
        return _link_card(block, accent)
    return ""


def _image(block: b.Image) -> str:
    src = b.safe_url(block.src, mailto=False)
    if not src:
        return ""
    size = ""
    if block.width:
        # Outlook sizes by the attributes: never wider than the column, the height scaled to match.
        width = min(block.width, CONTENT_WIDTH)
        size = f' width="{width}"'
        if block.height:
            size += f' height="{round(block.height * width / block.width)}"'
    img = (f'<img src="{_attr(scrub_markers(src))}" alt="{_attr(scrub_markers(block.alt))}"{size} '
           'style="display:block;max-width:100%;height:auto;border:0px;outline:none;" />')
    notes = [html.escape(scrub_markers(block.caption))] if block.caption else []
    if block.credit:
        notes.append(f"Credit: {html.escape(scrub_markers(block.credit))}")
    caption = f'<p style="margin:6px 0px 0px 0px;font-size:13px;line-height:1.4;color:{MUTED};">{" · ".join(notes)}</p>' if notes else ""
    return f'<div style="margin:0px 0px 16px 0px;">{img}{caption}</div>'


def _link_card(block: b.LinkCard, accent: str) -> str:
    url = b.safe_url(block.url, mailto=False)
    if not url:
        return ""
    url = scrub_markers(url)
    title = html.escape(scrub_markers(block.title) or url)
    domain = f'<br /><span style="font-size:13px;color:{MUTED};">{html.escape(block.domain)}</span>' if block.domain else ""
    return (f'<div style="margin:0px 0px 16px 0px;padding:12px 16px;border:1px solid {RULE};border-radius:6px;">'
            f'<a href="{_attr(url)}" style="color:{_attr(accent)};font-weight:bold;text-decoration:none;word-break:break-all;">'
            f"{title}</a>{domain}</div>")


def body_html(body: list[b.Block], accent: str) -> Markup:
    """The article's body as one trusted fragment for the templates."""
    return Markup("\n".join(part for part in (block_html(block, accent) for block in body) if part))
