"""The archive as an Atom feed (feedgen): the sent issues, newest first, each linking to its web version."""

from __future__ import annotations


from feedgen.feed import FeedGenerator

from newsletter.mail.links import Links
from newsletter.db.base import utcnow
from newsletter.issues.listing import FeedIssue
from newsletter.render.markers import clean_text, scrub_markers

def atom_feed(issues: list[FeedIssue], links: Links, list_name: str, base_url: str, path: str = "/archive") -> bytes:
    """The Atom document; ``issues`` newest first, as ``sent_issues`` returns them. ``path``: the
    archive's (``/n/<slug>/archive`` for a list other than the first)."""
    archive = f"{base_url.rstrip('/')}{path}"
    feed = FeedGenerator()
    feed.id(archive)
    feed.title(clean_text(list_name) or "Newsletter")
    feed.author({"name": clean_text(list_name) or "Newsletter"})
    feed.link(href=archive, rel="alternate", type="text/html")
    feed.link(href=links.archive_feed() if path == "/archive" else f"{archive}/feed.xml", rel="self",
              type="application/atom+xml")
    feed.subtitle(f"Every issue of {clean_text(list_name)} sent so far")
    feed.language("en")
    feed.updated(issues[0].sent_at if issues else utcnow())
    for issue in issues:
        url = links.archive_issue(issue.number) if path == "/archive" else f"{archive}/{issue.number}"
        entry = feed.add_entry(order="append")  # keep newest first (feedgen prepends by default)
        entry.id(url)
        entry.title(f"#{issue.number}: {scrub_markers(clean_text(issue.subject))}")
        entry.link(href=url, rel="alternate", type="text/html")
        entry.published(issue.sent_at)
        entry.updated(issue.sent_at)
        if issue.preheader.strip():
            entry.summary(scrub_markers(clean_text(issue.preheader)))
    data: bytes = feed.atom_str(pretty=True)
    return data
