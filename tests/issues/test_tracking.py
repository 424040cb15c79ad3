"""Open and click tracking: off by default and byte-for-byte as before; on: links through /t/c/,
a pixel, counted clicks and opens, never an open redirect, DKIM still verifying."""

from __future__ import annotations

import email
import re
from datetime import datetime, timezone
from email import policy
from email.utils import parsedate_to_datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.issues.compose import compose
from newsletter.delivery.dispatch import Worker
from newsletter.mail.dkim_sign import DkimSigner
from newsletter.issues.list_profile import save_profile
from newsletter.issues.figures import issue_figures
from newsletter.mail.message import MessageTemplate, Reader, Slot
from newsletter.issues.models import Issue, IssueLink
from newsletter.render.issue import RenderedIssue
from newsletter.services import Services
from newsletter.issues.tracking import PIXEL_GIF, TrackingTokens, tracked_html
from tests.factories import add_article, add_subscribers
from tests.mail.test_dkim import _keys, _verify_all

ARTICLE_URL = "https://example.com/story?a=1&b=2"
TRACK_URL = re.compile(r"http://newsletter\.test/t/(?:c/([^/\"]+)/(\d+)|o/([^/\"]+))/([0-9a-z-]+?)(?:\.gif)?\"")


def _issue(services: Services, readers: int = 3) -> tuple[int, list[int]]:
    add_article(services.sessions, "Rivers <script>alert(1)</script>", url=ARTICLE_URL,
                paragraphs=["See <a> nothing here.", "Second."])
    issue_id = compose(services.sessions, services.settings).issue_id
    return issue_id, add_subscribers(services.sessions, readers)


def _send(services: Services, issue_id: int, tracking: bool | None) -> dict[str, email.message.EmailMessage]:
    services.publisher.queue(issue_id, tracking=tracking)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    sent = {m.recipient: email.message_from_bytes(m.data, policy=policy.default) for m in services.backend.sent}  # type: ignore[attr-defined]
    return sent  # type: ignore[return-value]


def _parts(message: email.message.EmailMessage) -> tuple[str, str]:
    html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    return html_part.get_content(), text_part.get_content()


def _same_boundary(message: bytes, like: bytes) -> bytes:
    # The email package picks a random MIME boundary per compiled template; all else must match.
    boundary = re.compile(rb'boundary="([^"]+)"')
    ours, theirs = boundary.search(message), boundary.search(like)
    assert ours is not None and theirs is not None
    return message.replace(ours.group(1), theirs.group(1))


def _click_urls(html: str) -> list[str]:
    return re.findall(r'href="(http://newsletter\.test/t/c/[^"]+)"', html)


def test_untracked_issues_are_sent_exactly_as_before(services: Services) -> None:
    issue_id, ids = _issue(services)
    sent = _send(services, issue_id, tracking=None)  # the list's switch: off by default
    assert len(sent) == 3
    # The template as the worker compiled it before tracking existed: the stored rendering as is.
    before = MessageTemplate.compile(services.publisher.rendered(issue_id), services.settings)
    raw = {m.recipient: m for m in services.backend.sent}  # type: ignore[attr-defined]
    for i, sid in enumerate(ids):
        html, text = _parts(sent[f"reader{i}@example.net"])
        assert "/t/" not in html and "/t/" not in text and ".gif" not in html
        assert f'href="{ARTICLE_URL.replace("&", "&amp;")}"' in html
        url, mailto = services.links.unsubscribe_both(sid)
        reader = Reader(f"reader{i}@example.net", f"Reader {i}", url, mailto)
        message = raw[f"reader{i}@example.net"]
        date = parsedate_to_datetime(sent[f"reader{i}@example.net"]["Date"])
        expected = before.personalise(reader, message.message_id, date=date)
        assert message.data == _same_boundary(expected, message.data)
    with services.sessions() as session:
        assert session.scalar(select(Issue.tracking).where(Issue.id == issue_id)) is False
    assert issue_figures(services.sessions, issue_id).opens is None


def test_an_untracked_template_is_byte_identical_and_has_no_reader_slot(services: Services) -> None:
    issue_id, _ = _issue(services)
    rendered = services.publisher.rendered(issue_id)
    template = MessageTemplate.compile(rendered, services.settings)
    assert not template.tracked and Slot.HTML_READER_TOKEN not in template.slots
    reader = Reader("a@example.net", "A", "https://x.test/u/1", "")
    # A token given to an untracked template changes nothing: no per-reader tracking work at all.
    with_token = Reader("a@example.net", "A", "https://x.test/u/1", "", tracking_token="1-abc")
    when = datetime(2026, 11, 28, 7, 0, tzinfo=timezone.utc)
    assert template.personalise(reader, "<m@x>", date=when) == template.personalise(with_token, "<m@x>", date=when)


def test_tracked_links_go_through_t_in_html_only_and_clicks_count(services: Services, client: TestClient) -> None:
    issue_id, ids = _issue(services)
    sent = _send(services, issue_id, tracking=True)
    html, text = _parts(sent["reader0@example.net"])
    # The plain-text part keeps the real URLs: readers see and copy them, and there is no pixel there.
    assert ARTICLE_URL in text and "/t/" not in text
    assert f'href="{ARTICLE_URL.replace("&", "&amp;")}"' not in html
    clicks = _click_urls(html)
    assert clicks and all("/t/c/" in url for url in clicks)
    # Our own pages stay direct: the view-in-browser link and the unsubscribe link.
    assert f'href="http://newsletter.test/archive/{1}"' in html
    assert 'href="http://newsletter.test/unsubscribe/' in html
    assert re.search(r'<img src="http://newsletter\.test/t/o/[^"]+\.gif"[^>]*alt=""', html)
    with services.sessions() as session:
        assert session.scalars(select(IssueLink.url).where(IssueLink.issue_id == issue_id)).all() == [ARTICLE_URL]

    first = client.get(clicks[0].removeprefix("http://newsletter.test"), follow_redirects=False)
    assert first.status_code == 302 and first.headers["location"] == ARTICLE_URL
    client.get(clicks[0].removeprefix("http://newsletter.test"), follow_redirects=False)
    other = _click_urls(_parts(sent["reader1@example.net"])[0])[0]
    assert other != clicks[0]
    assert client.get(other.removeprefix("http://newsletter.test"), follow_redirects=False).status_code == 302
    figures = issue_figures(services.sessions, issue_id)
    assert (figures.clicks, figures.unique_clicks) == (3, 2)
    assert (figures.opens, figures.unique_opens) == (0, 0)


def test_bad_tracking_links_are_404_and_never_an_open_redirect(services: Services, client: TestClient) -> None:
    issue_id, ids = _issue(services)
    sent = _send(services, issue_id, tracking=True)
    click = _click_urls(_parts(sent["reader0@example.net"])[0])[0].removeprefix("http://newsletter.test")
    _, _, _, issue_token, idx, reader_token = click.split("/")
    forged = issue_token[:-1] + ("a" if issue_token[-1] != "a" else "b")
    for path in (f"/t/c/{forged}/{idx}/{reader_token}", f"/t/c/{issue_token}/7/{reader_token}",
                 f"/t/c/{issue_token}/-1/{reader_token}", f"/t/c/{issue_token}/x/{reader_token}",
                 f"/t/c/2-{issue_token.partition('-')[2]}/{idx}/{reader_token}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"] and "This link didn" in response.text
    # The request cannot name where to go: only the issue's stored URL is ever a target.
    evil = client.get(f"{click}?url=https://evil.example/&next=https://evil.example/", follow_redirects=False)
    assert evil.headers["location"] == ARTICLE_URL
    # A damaged reader token still takes the reader on (forwarded mail), but counts nothing.
    damaged = client.get(f"/t/c/{issue_token}/{idx}/{reader_token[:-2]}zz", follow_redirects=False)
    assert damaged.status_code == 302 and damaged.headers["location"] == ARTICLE_URL
    # Another issue's token for the same reader is not this issue's.
    other_issue = TrackingTokens(services.settings.secret_key).reader_token(issue_id + 1, ids[0])
    client.get(f"/t/c/{issue_token}/{idx}/{other_issue}", follow_redirects=False)
    assert issue_figures(services.sessions, issue_id).clicks == 1  # only the evil-query one had a good token


def test_the_pixel_is_a_gif_that_counts_opens(services: Services, client: TestClient) -> None:
    issue_id, _ = _issue(services)
    sent = _send(services, issue_id, tracking=True)
    pixels = []
    for i in range(2):
        html = _parts(sent[f"reader{i}@example.net"])[0]
        pixels += re.findall(r'<img src="http://newsletter\.test(/t/o/[^"]+\.gif)"', html)
    assert len(pixels) == 2
    for path in (pixels[0], pixels[0], pixels[1]):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
        assert response.content == PIXEL_GIF and len(response.content) == 43
        assert response.headers["cache-control"] == "no-store"
    forged = client.get(pixels[0].replace(".gif", "x.gif"))
    assert forged.status_code == 200 and forged.content == PIXEL_GIF  # served, not counted
    figures = issue_figures(services.sessions, issue_id)
    assert (figures.opens, figures.unique_opens, figures.clicks) == (3, 2, 0)


def test_the_lists_switch_turns_tracking_on_for_issues_queued_after(services: Services) -> None:
    save_profile(services.sessions, services.settings, tracking_enabled=True)
    issue_id, _ = _issue(services, readers=1)
    sent = _send(services, issue_id, tracking=None)
    assert _click_urls(_parts(sent["reader0@example.net"])[0])
    assert issue_figures(services.sessions, issue_id).opens == 0


def _queue_late_reader(services: Services, issue_id: int) -> dict[str, email.message.EmailMessage]:
    """A reader who joins while the send is under way, added to it (as a later local-time wave
    or the scheduler's recovery would): the list's switch is not asked again."""
    add_subscribers(services.sessions, 1, prefix="late")
    assert services.publisher.queue_more(issue_id).queued == 1
    return _send_queued(services)


def _send_queued(services: Services) -> dict[str, email.message.EmailMessage]:
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    sent = {m.recipient: email.message_from_bytes(m.data, policy=policy.default) for m in services.backend.sent}  # type: ignore[attr-defined]
    return sent  # type: ignore[return-value]


def test_tracking_is_decided_once_when_first_queued(services: Services) -> None:
    issue_id, _ = _issue(services)
    services.publisher.queue(issue_id, tracking=True)  # the list's switch is off
    sent = _queue_late_reader(services, issue_id)  # more readers cannot switch it off mid-send
    assert len(sent) == 4 and _click_urls(_parts(sent["late0@example.net"])[0])


def test_an_issue_queued_untracked_is_never_tracked_later(services: Services) -> None:
    issue_id, _ = _issue(services)
    services.publisher.queue(issue_id, tracking=False)
    save_profile(services.sessions, services.settings, tracking_enabled=True)
    sent = _queue_late_reader(services, issue_id)
    assert len(sent) == 4 and not _click_urls(_parts(sent["late0@example.net"])[0])
    assert issue_figures(services.sessions, issue_id).clicks is None


def test_a_tracked_message_keeps_the_dkim_fast_path_and_verifies(services: Services, tmp_path: Path) -> None:
    keys, records = _keys(tmp_path, ("rsa", "ed25519"))
    issue_id, _ = _issue(services)
    services.publisher.queue(issue_id, tracking=True)
    settings = services.settings.model_copy(update={"dkim_keys": keys, "dkim_domain": "example.org"})
    assert Worker(services.store, services.backend, settings, services.links).run(drain=True) == 3
    sent = services.backend.sent  # type: ignore[attr-defined]
    assert all(b"/t/c/" in m.data and _verify_all(m.data, records) for m in sent)
    # The fast path (hash carried past the slots), not the whole-message fallback, signed them.
    rendered = services.publisher.rendered(issue_id)
    tokens = TrackingTokens(settings.secret_key)
    html = tracked_html(rendered.html, settings.base_url, tokens.issue_token(issue_id))
    template = MessageTemplate.compile(RenderedIssue(rendered.subject, "", html, rendered.text), settings,
                                       signer=DkimSigner.from_settings(settings))
    assert template.tracked and template.dkim is not None and template.dkim._fast
    reader = Reader("a@example.net", "Ana", "https://x.test/u/1", "", tracking_token=tokens.reader_token(issue_id, 7))
    assert _verify_all(template.personalise(reader, "<m@example.org>"), records)


def test_fifty_tracked_messages_each_carry_their_own_readers_token(services: Services) -> None:
    issue_id, ids = _issue(services, readers=50)
    sent = _send(services, issue_id, tracking=True)
    assert len(sent) == 50
    tokens = TrackingTokens(services.settings.secret_key)
    seen = set()
    for i, sid in enumerate(ids):
        html = _parts(sent[f"reader{i}@example.net"])[0]
        found = TRACK_URL.findall(html)
        assert len(found) >= 3  # article title link, "read more" and the pixel
        readers = {reader for _, _, _, reader in found}
        assert len(readers) == 1
        token = readers.pop()
        assert tokens.read_reader(issue_id, token) == sid
        assert {c or o for c, _, o, _ in found} == {tokens.issue_token(issue_id)}
        seen.add(token)
    assert len(seen) == 50
