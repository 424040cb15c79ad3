"""The reader's preferences page: which lists, pause, change of address, time zone, unsubscribe.

Reached by the reader's unsubscribe token (``/preferences/<token>``), from the unsubscribe page
and every email's footer. The token is the only credential, as for one-click unsubscribe: a
cross-site form cannot post here without knowing it, so the forms need no CSRF cookie.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request
from starlette.responses import RedirectResponse, Response

from newsletter.errors import Unavailable
from newsletter.schedule.weekly import load_schedule
from newsletter.readers.history import SubscriberNotFound
from newsletter.readers.list_choice import MAX_CHOICES, choose_lists, parse_choices, reader_lists
from newsletter.readers.preferences import (
    MAX_PAUSE_WEEKS,
    InvalidPreference,
    NotSubscribed,
    Preferences,
    ReaderPreferences,
    parse_weeks,
    time_zones,
)
from newsletter.services import Services
from newsletter.mail.tokens import InvalidToken
from newsletter.web.ip_limit import SlidingWindow
from newsletter.web.pages import Pages

MAX_FIELD = 1000
BAD_LINK = "This preferences link didn't work"
BAD_LINK_DETAIL = (
    "It may have been cut short when it was copied. Open it again from the bottom of any email we sent you."
)
# What the page says after a change (the redirect names it, so a reload repeats nothing).
SAVED = {
    "paused": "Paused. No issues will come until the date below; then they start again by themselves.",
    "resumed": "Welcome back: the next issue will come as usual.",
    # The same words whatever the new address (free, on the list, suppressed): what happened is
    # only said by email, so a forwarded issue's link tells nobody who else reads the list.
    "email": "Thanks. If the new address can receive the newsletter, we're sending a link to it, and your "
             "address changes once you follow it. If it can't, we're emailing you here to say so.",
    "email-cancelled": "The change of address is cancelled.",
    "time-zone": "Your time zone is saved.",
    "lists": "Your choice of newsletters is saved.",
}


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def too_many(pages: Pages, request: Request, retry_after: float) -> Response:
    minutes = max(1, round(retry_after / 60))
    response = pages.error(
        request, 429, "Too many tries from your connection",
        "To protect people's inboxes, this form can only be used a few times in a row. "
        f"Please try again in about {minutes} minute{'s' if minutes != 1 else ''}.",
    )
    response.headers["Retry-After"] = str(int(retry_after) + 1)
    return response


def preferences_router(services: Services, pages: Pages, limiter: SlidingWindow) -> APIRouter:
    router = APIRouter()
    prefs = Preferences(services.sessions, services.settings, services.backend, services.links, services.suppression)

    def list_zone() -> str:
        return load_schedule(services.sessions, services.settings).time_zone

    def page(
        request: Request, token: str, view: ReaderPreferences, status: int = 200, /, **context: Any
    ) -> Response:
        saved = SAVED.get(request.query_params.get("saved", ""), "")
        # One list: the unsubscribe button says it all, and the page stays as it always was.
        lists = reader_lists(services.sessions, view.subscriber_id)
        values: dict[str, Any] = {
            "lists": lists if len(lists) > 1 else [],
            "token": token, "prefs": view, "saved": saved, "errors": {}, "new_email": "", "weeks": "2",
            "zones": time_zones(), "list_zone": list_zone(), "max_weeks": MAX_PAUSE_WEEKS, **context,
        }
        response = pages.render(request, "preferences.html", status, **values)
        response.headers["Cache-Control"] = "no-store"  # a personal page: never in a shared cache
        return response

    def problem(request: Request, exc: Exception) -> Response:
        if isinstance(exc, InvalidToken):
            return pages.error(request, 400, BAD_LINK, BAD_LINK_DETAIL)
        if isinstance(exc, SubscriberNotFound):
            return pages.error(request, 404, "There is no subscription for this link",
                               "It may have been deleted. You can subscribe again from the subscribe page.")
        raise exc

    def done(token: str, what: str) -> Response:
        return RedirectResponse(f"/preferences/{token}?saved={what}", status_code=303)

    def change(
        request: Request, token: str, field: str, typed: dict[str, str], action: Any, what: str
    ) -> Response:
        """Run one change; its error goes beside its field, a dead link gets the error page."""
        try:
            subscriber_id = services.tokens.read_unsubscribe(token)
            try:
                action(subscriber_id)
            except InvalidPreference as exc:
                view = prefs.get(subscriber_id)
                return page(request, token, view, 400, errors={exc.field: _sentence(exc.message)}, **typed)
            except NotSubscribed as exc:
                view = prefs.get(subscriber_id)
                return page(request, token, view, 409, errors={field: _sentence(str(exc))}, **typed)
        except (InvalidToken, SubscriberNotFound) as exc:
            return problem(request, exc)
        return done(token, what)

    @router.get("/preferences/confirm/{token}")
    def confirm_email(request: Request, token: str) -> Response:
        try:
            subscriber_id, email = services.tokens.read_confirm(token)
            view = prefs.confirm_email_change(subscriber_id, email)
        except InvalidToken as exc:
            return pages.error(request, 400, "This confirmation link didn't work", _sentence(str(exc)))
        preferences_path = f"/preferences/{services.tokens.unsubscribe_token(view.subscriber_id)}"
        response = pages.render(request, "preferences_email_changed.html", email=view.email,
                                preferences_path=preferences_path)
        response.headers["Cache-Control"] = "no-store"
        return response

    @router.get("/preferences/undo/{token}")
    def undo_form(request: Request, token: str) -> Response:
        # GET only asks: a mail scanner following the link must not move anyone's subscription.
        try:
            _, old_email, new_email = services.tokens.read_undo(token)
        except InvalidToken as exc:
            return pages.error(request, 400, "This link didn't work", _sentence(str(exc)))
        response = pages.render(request, "preferences_undo.html", done=False, old_email=old_email,
                                new_email=new_email, action=f"/preferences/undo/{token}")
        response.headers["Cache-Control"] = "no-store"
        return response

    @router.post("/preferences/undo/{token}")
    def undo(request: Request, token: str) -> Response:
        try:
            view = prefs.undo_email_change(*services.tokens.read_undo(token))
        except InvalidToken as exc:
            return pages.error(request, 400, "This link didn't work", _sentence(str(exc)))
        preferences_path = f"/preferences/{services.tokens.unsubscribe_token(view.subscriber_id)}"
        response = pages.render(request, "preferences_undo.html", done=True, old_email=view.email,
                                preferences_path=preferences_path)
        response.headers["Cache-Control"] = "no-store"
        return response

    @router.get("/preferences/{token}")
    def show(request: Request, token: str) -> Response:
        try:
            view = prefs.get(services.tokens.read_unsubscribe(token))
        except (InvalidToken, SubscriberNotFound) as exc:
            return problem(request, exc)
        return page(request, token, view)

    @router.post("/preferences/{token}/pause")
    def pause(request: Request, token: str, weeks: Annotated[str, Form()] = "") -> Response:
        def act(subscriber_id: int) -> None:
            prefs.pause(subscriber_id, parse_weeks(weeks[:10]))
        return change(request, token, "weeks", {"weeks": weeks[:10]}, act, "paused")

    @router.post("/preferences/{token}/resume")
    def resume(request: Request, token: str) -> Response:
        return change(request, token, "weeks", {}, prefs.resume, "resumed")

    @router.post("/preferences/{token}/lists")
    def choose(request: Request, token: str, lists: Annotated[list[str] | None, Form()] = None) -> Response:
        def act(subscriber_id: int) -> None:
            choose_lists(services.sessions, subscriber_id, parse_choices((lists or [])[:MAX_CHOICES + 1]))
        return change(request, token, "lists", {}, act, "lists")

    @router.post("/preferences/{token}/time-zone")
    def time_zone(request: Request, token: str, time_zone: Annotated[str, Form()] = "") -> Response:
        def act(subscriber_id: int) -> None:
            prefs.set_time_zone(subscriber_id, time_zone[:100])
        return change(request, token, "time_zone", {}, act, "time-zone")

    @router.post("/preferences/{token}/email")
    def change_email(
        request: Request, background: BackgroundTasks, token: str, email: Annotated[str, Form()] = ""
    ) -> Response:
        typed = email[:MAX_FIELD]

        def act(subscriber_id: int) -> None:
            if not typed.strip():
                raise InvalidPreference("email", "please enter your new email address")
            if len(email) > MAX_FIELD:
                raise InvalidPreference("email", "that is far too long for an email address")
            wait = limiter.hit(client_key(request))
            if wait:
                raise _Limited(wait)
            # Mailed after the answer, so its timing doesn't tell a free address from a taken one either.
            background.add_task(prefs.mail_email_change_later, prefs.ask_email_change(subscriber_id, typed))

        try:
            return change(request, token, "email", {"new_email": typed}, act, "email")
        except _Limited as exc:
            return too_many(pages, request, exc.retry_after)

    @router.post("/preferences/{token}/email/cancel")
    def cancel_email(request: Request, token: str) -> Response:
        return change(request, token, "email", {}, prefs.cancel_email_change, "email-cancelled")

    return router


class _Limited(Unavailable):
    def __init__(self, retry_after: float) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")

