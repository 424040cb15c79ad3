"""Pages for readers: subscribe, confirm, unsubscribe (incl. RFC 8058 one-click), the archive and its
Atom feed; the preferences pages are in ``public_preferences``."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from newsletter.lists.catalog import ListInfo, list_by_slug
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.readers.addresses import InvalidAddress, normalise_email
from newsletter.render.issue import fill_html
from newsletter.services import Services
from newsletter.render.markers import scrub_markers
from newsletter.mail.tokens import InvalidToken
from newsletter.issues.listing import sent_issues
from newsletter.web.public.archive_feed import atom_feed
from newsletter.web.ip_limit import SlidingWindow
from newsletter.web.pages import Pages
from newsletter.web.public.preferences import client_key, preferences_router, too_many
from newsletter.issues.listing import list_issues, sent_issue_html

MAX_FIELD = 1000  # far longer than any real address or name; bounds the work on hostile posts
# Forms that mail an address someone typed (subscribe, change of address), per client address.
FORM_LIMIT = 5
FORM_WINDOW_SECONDS = 600


def public_router(services: Services, pages: Pages) -> APIRouter:
    router = APIRouter()
    # Owned by this app instance (not a module global): one window shared by both mailing forms.
    limiter = SlidingWindow(FORM_LIMIT, FORM_WINDOW_SECONDS)
    router.include_router(preferences_router(services, pages, limiter))

    @router.get("/")
    def home() -> Response:
        return RedirectResponse("/subscribe", status_code=303)

    @router.get("/subscribe")
    def subscribe_form(request: Request) -> Response:
        return pages.render(request, "subscribe.html", email="", name="")

    @router.post("/subscribe")
    def subscribe(
        request: Request,
        background: BackgroundTasks,
        email: Annotated[str, Form()] = "",
        name: Annotated[str, Form()] = "",
    ) -> Response:
        return signup(request, background, email, name, None)

    # Another list's own page: the same rules and the same rate limit as /subscribe (the first list's).
    @router.get("/n/{slug}/subscribe")
    def list_subscribe_form(request: Request, slug: str) -> Response:
        found = list_by_slug(services.sessions, slug)  # UnknownList: 404
        return pages.render(request, "subscribe.html", email="", name="", action=f"/n/{found.slug}/subscribe",
                            **_list_page(found))

    @router.post("/n/{slug}/subscribe")
    def list_subscribe(
        request: Request,
        background: BackgroundTasks,
        slug: str,
        email: Annotated[str, Form()] = "",
        name: Annotated[str, Form()] = "",
    ) -> Response:
        return signup(request, background, email, name, list_by_slug(services.sessions, slug))

    def signup(request: Request, background: BackgroundTasks, email: str, name: str,
               mailing_list: ListInfo | None) -> Response:
        shown = {**_list_page(mailing_list), "action": f"/n/{mailing_list.slug}/subscribe"} if mailing_list else {}
        name = name[:MAX_FIELD]
        try:
            if not email.strip():
                raise InvalidAddress("please enter your email address")
            if len(email) > MAX_FIELD:
                email = email[:MAX_FIELD]
                raise InvalidAddress("that is far too long for an email address")
            normalise_email(email)  # bad input is answered beside the field and not counted below
            wait = limiter.hit(client_key(request))
            if wait:
                return too_many(pages, request, wait)
        except InvalidAddress as exc:
            return pages.render(
                request, "subscribe.html", 400, email=email, name=name, error=f"Please check the address: {exc}",
                **shown,
            )
        # The sign-up itself (its database work and its email) runs after this answer has gone, so
        # every outcome (new, pending, subscribed, left, suppressed, too many confirmations) gets the
        # same page in the same time: the form can't be used to find out who reads the list.
        list_id = mailing_list.id if mailing_list is not None else FIRST_LIST_ID
        background.add_task(services.subscriptions.subscribe_later, email, name, "web", list_id)
        return pages.render(request, "check_inbox.html", **shown)

    @router.get("/confirm/{token}")
    def confirm(request: Request, token: str) -> Response:
        try:
            subscriber_id, email = services.tokens.read_confirm(token)
            services.subscriptions.confirm(subscriber_id, email)
        except InvalidToken as exc:
            return pages.error(request, 400, "This confirmation link didn't work", _sentence(exc))
        return pages.render(request, "subscribed.html")

    @router.get("/unsubscribe/{token}/{slug}")
    def list_unsubscribe_form(request: Request, token: str, slug: str, page: str = "") -> Response:
        # Another list's emails name it: unsubscribing ends that subscription only.
        found = list_by_slug(services.sessions, slug)
        return unsubscribe_form(request, token, page, f"/unsubscribe/{token}/{found.slug}", _list_page(found))

    @router.post("/unsubscribe/{token}/{slug}")
    def list_unsubscribe(request: Request, token: str, slug: str) -> Response:
        return leave(request, token, list_by_slug(services.sessions, slug))

    @router.get("/unsubscribe/{token}")
    def unsubscribe_form_first(request: Request, token: str, page: str = "") -> Response:
        return unsubscribe_form(request, token, page, f"/unsubscribe/{token}", {})

    def unsubscribe_form(request: Request, token: str, page: str, action: str, shown: dict[str, str]) -> Response:
        # GET only asks: mail scanners follow links, and must not unsubscribe anyone.
        try:
            services.tokens.read_unsubscribe(token)
        except InvalidToken as exc:
            return pages.error(request, 400, "This unsubscribe link didn't work", _sentence(exc))
        if page == "preferences":
            # The emails' footer link: the unsubscribe slot plus "?page=preferences", so issues need
            # no second per-reader slot.
            return RedirectResponse(f"/preferences/{token}", status_code=303)
        return pages.render(request, "unsubscribe.html", action=action,
                            preferences_path=f"/preferences/{token}", **shown)

    @router.post("/unsubscribe/{token}")
    def unsubscribe(request: Request, token: str) -> Response:
        return leave(request, token, None)

    def leave(request: Request, token: str, mailing_list: ListInfo | None) -> Response:
        # Also the RFC 8058 one-click endpoint: mail providers POST "List-Unsubscribe=One-Click"
        # with no cookies, so the signed token is the only credential (no CSRF check here).
        list_id = mailing_list.id if mailing_list is not None else FIRST_LIST_ID
        try:
            services.subscriptions.unsubscribe(services.tokens.read_unsubscribe(token), list_id=list_id)
        except InvalidToken as exc:
            return pages.error(request, 400, "This unsubscribe link didn't work", _sentence(exc))
        return pages.render(request, "unsubscribed.html", **_list_page(mailing_list))

    @router.get("/unsubscribe")
    def unsubscribe_help(request: Request) -> Response:
        return pages.render(request, "unsubscribe_help.html")

    # The first list's archive is /archive; another list's is /n/<slug>/archive. Issue numbers are
    # the installation's, so /archive/<number> (every email's web link) shows any sent issue.
    def archive_page(request: Request, mailing_list: ListInfo | None) -> Response:
        list_id = mailing_list.id if mailing_list is not None else FIRST_LIST_ID
        path = f"/n/{mailing_list.slug}/archive" if mailing_list is not None else "/archive"
        issues = list_issues(services.sessions, sent_only=True, list_id=list_id)
        shown = {**_list_page(mailing_list), "subscribe_path": f"/n/{mailing_list.slug}/subscribe"} if mailing_list else {}
        return pages.render(request, "archive.html", issues=issues, archive_path=path,
                            titles={i.number: archive_title(i.number, i.subject) for i in issues}, **shown)

    def feed(mailing_list: ListInfo | None) -> Response:
        list_id = mailing_list.id if mailing_list is not None else FIRST_LIST_ID
        name = mailing_list.name if mailing_list is not None else pages.list_name()
        path = f"/n/{mailing_list.slug}/archive" if mailing_list is not None else "/archive"
        data = atom_feed(sent_issues(services.sessions, list_id=list_id), services.links, name,
                         services.settings.base_url, path)
        return Response(data, media_type="application/atom+xml")

    def issue_page(request: Request, number: int, list_id: int | None) -> Response:
        html = sent_issue_html(services.sessions, number, list_id)
        if html is None:
            return pages.error(request, 404, "There is no such issue in the archive")
        # The web version is everyone's: a neutral greeting, the unsubscribe link explains itself
        # (/unsubscribe), and no marker of any other slot survives.
        return HTMLResponse(scrub_markers(fill_html(html, None, base_url=services.settings.base_url)))

    @router.get("/archive")
    def archive(request: Request) -> Response:
        return archive_page(request, None)

    @router.get("/archive/feed.xml")
    def archive_feed() -> Response:
        # Before /archive/{number}, which would take "feed.xml" for a number.
        return feed(None)

    @router.get("/archive/{number}")
    def archive_issue(request: Request, number: int) -> Response:
        return issue_page(request, number, None)

    @router.get("/n/{slug}/archive")
    def list_archive(request: Request, slug: str) -> Response:
        return archive_page(request, list_by_slug(services.sessions, slug))  # UnknownList: 404

    @router.get("/n/{slug}/archive/feed.xml")
    def list_archive_feed(slug: str) -> Response:
        return feed(list_by_slug(services.sessions, slug))

    @router.get("/n/{slug}/archive/{number}")
    def list_archive_issue(request: Request, slug: str, number: int) -> Response:
        return issue_page(request, number, list_by_slug(services.sessions, slug).id)

    return router


def archive_title(number: int, subject: str) -> str:
    """An issue's line in the archive: composed subjects already say "#N" (the list name and the
    number), so only a subject without its number gets "#N: " in front."""
    return subject if re.search(rf"#{number}(?!\d)", subject) else f"#{number}: {subject}"


def _list_page(mailing_list: ListInfo | None) -> dict[str, str]:
    """What a list's own pages show: its name (the first list's pages: the site's, as before)."""
    return {"list_name": mailing_list.name} if mailing_list is not None else {}


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
