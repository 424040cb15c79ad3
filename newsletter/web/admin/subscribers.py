"""The editor's subscriber pages: the list (search, status filter, pages of 50, CSV export), adding,
editing and erasing a reader, one reader with their history and deliveries, setting a reader
active or unsubscribed by hand, and lifting a reader's suppression."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from newsletter.lists.catalog import all_lists, list_by_slug
from newsletter.lists.errors import UnknownList
from newsletter.readers.addresses import InvalidAddress
from newsletter.readers.history import PER_PAGE, SubscriberNotFound
from newsletter.readers.models import SubscriberStatus
from newsletter.services import Services
from newsletter.readers.suppression import NotSuppressed, unsuppress
from newsletter.readers.roster import (
    DuplicateSubscriber,
    SubscriberFilter,
    export_csv,
    reader_card,
    search_subscribers,
    update_subscriber,
)
from newsletter.readers.subscriptions import (
    EDITOR_STATUSES,
    MAX_CONFIRMATIONS,
    AddOutcome,
    ConfirmationNotSent,
    StatusChangeRefused,
    SubscriberSuppressed,
)
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

PAGE = "/admin/subscribers"
SEARCH_MAX = 320  # the longest address
FIELD_MAX = 1000


def page_url(search: str, status: str, page: int, path: str = PAGE) -> str:
    params = {key: value for key, value in (("q", search), ("status", status)) if value}
    if page > 1:
        params["page"] = str(page)
    return path + (f"?{urlencode(params)}" if params else "")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def chosen_status(status: str) -> SubscriberStatus | None:
    # An unknown status in the URL lists everyone rather than failing.
    return SubscriberStatus(status) if status in {s.value for s in SubscriberStatus} else None


def admin_subscribers_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    # A default, not an Annotated alias: see admin.py (postponed annotations resolve in globals).
    csrf = Depends(auth.require_csrf)
    sessions, subscriptions = services.sessions, services.subscriptions

    def not_found(request: Request, subscriber_id: int) -> Response:
        return pages.error(request, 404, "No such subscriber", f"There is no subscriber {subscriber_id}.")

    @router.get("/subscribers")
    def subscribers(
        request: Request,
        q: Annotated[str, Query(max_length=1000)] = "",
        status: str = "",
        page: int = 1,
    ) -> Response:
        search = q.strip()[:SEARCH_MAX]
        chosen = chosen_status(status)
        status_value = chosen.value if chosen else ""
        flt = SubscriberFilter(search, chosen)
        page = max(1, page)
        found = search_subscribers(sessions, flt, PER_PAGE, (page - 1) * PER_PAGE)
        pages_count = max(1, -(-found.total // PER_PAGE))
        if page > pages_count:  # beyond the last page: show the last
            page = pages_count
            found = search_subscribers(sessions, flt, PER_PAGE, (page - 1) * PER_PAGE)
        return pages.render(
            request,
            "admin_subscribers.html",
            result={"rows": found.rows, "total": found.total, "page": page, "pages": pages_count},
            search=search,
            status=status_value,
            statuses=[s.value for s in SubscriberStatus],
            first=(page - 1) * PER_PAGE + 1,
            last=(page - 1) * PER_PAGE + len(found.rows),
            export_url=page_url(search, status_value, 1, f"{PAGE}/export.csv"),
            previous_url=page_url(search, status_value, page - 1) if page > 1 else None,
            next_url=page_url(search, status_value, page + 1) if page < pages_count else None,
        )

    @router.get("/subscribers/export.csv")
    def export(q: Annotated[str, Query(max_length=1000)] = "", status: str = "") -> Response:
        flt = SubscriberFilter(q.strip()[:SEARCH_MAX], chosen_status(status))
        name = f"subscribers-{date.today():%Y%m%d}.csv"
        return StreamingResponse(export_csv(sessions, flt), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def add_form(request: Request, status_code: int = 200, *, email: str = "", name: str = "",
                 opted_in: bool = False, list_slug: str = "", errors: dict[str, str] | None = None) -> Response:
        return pages.render(request, "admin_subscriber_form.html", status_code, mode="add",
                            values={"email": email, "name": name, "opted_in": opted_in, "list": list_slug},
                            lists=all_lists(sessions), errors=errors or {})

    @router.get("/subscribers/new")
    def new_subscriber(request: Request) -> Response:
        return add_form(request)

    @router.post("/subscribers/new")
    def add_subscriber(
        request: Request,
        email: Annotated[str, Form(max_length=FIELD_MAX)] = "",
        name: Annotated[str, Form(max_length=FIELD_MAX)] = "",
        opted_in: Annotated[str, Form()] = "",
        list_slug: Annotated[str, Form(alias="list", max_length=FIELD_MAX)] = "",
        _: AdminSession = csrf,
    ) -> Response:
        agreed = bool(opted_in)

        def refuse(text: str, field: str = "email") -> Response:
            return add_form(request, 400, email=email, name=name, opted_in=agreed, list_slug=list_slug,
                            errors={field: text})

        try:
            chosen = list_by_slug(sessions, list_slug.strip() or None)
        except UnknownList as exc:
            return refuse(_sentence(str(exc)), "list")
        try:
            added = subscriptions.add_subscriber(email, name, confirmed=agreed, source="admin", list_id=chosen.id)
        except InvalidAddress as exc:
            return refuse(f"Not a valid address: {exc}." if email.strip() else _sentence(str(exc)))
        except SubscriberSuppressed as exc:
            return refuse(_sentence(str(exc)))
        except ConfirmationNotSent as exc:
            return refuse(f"Added as pending, but {exc}.")
        if added.outcome is AddOutcome.EXISTING and not chosen.first:
            # An existing reader the editor says agreed to this list: on it now, their standing as it was.
            return pages.flash(RedirectResponse(f"{PAGE}/{added.id}", status_code=303), "ok",
                               f"{added.email} (already a subscriber, {added.status.value}) is on {chosen.name} now.")
        if added.outcome in (AddOutcome.EXISTING, AddOutcome.ALREADY_SUBSCRIBED):
            return refuse(f"{added.email} is already a subscriber (#{added.id}, {added.status.value}).")
        if added.outcome is AddOutcome.TOO_MANY_CONFIRMATIONS:
            return refuse(f"{added.email} was not mailed: it has had its {MAX_CONFIRMATIONS} confirmation emails today; try again tomorrow.")
        where = "" if chosen.first else f" to {chosen.name}"
        text = (f"{added.email} added{where}: active at once." if added.outcome is AddOutcome.ADDED
                else f"{added.email} added{where}: pending until they confirm; the confirmation email was sent.")
        return pages.flash(RedirectResponse(f"{PAGE}/{added.id}", status_code=303), "ok", text)

    @router.get("/subscribers/{subscriber_id}")
    def subscriber(request: Request, subscriber_id: int) -> Response:
        try:
            card = reader_card(sessions, services.suppression, subscriber_id=subscriber_id)
        except SubscriberNotFound:
            return not_found(request, subscriber_id)
        return pages.render(
            request,
            "admin_subscriber.html",
            reader=card.history,
            suppressed=card.suppressed,
            editor_statuses=[s.value for s in EDITOR_STATUSES],
            has=services.audience.reader(subscriber_id),
            field_defs=services.audience.fields(),
        )

    def edit_form(request: Request, subscriber_id: int, status_code: int = 200, *,
                  values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> Response:
        try:
            reader = reader_card(sessions, services.suppression, subscriber_id=subscriber_id).history
        except SubscriberNotFound:
            return not_found(request, subscriber_id)
        current = {"email": reader.email, "name": reader.name, "status": reader.status.value}
        return pages.render(request, "admin_subscriber_form.html", status_code, mode="edit",
                            subscriber_id=subscriber_id, current_status=current["status"],
                            editor_statuses=[s.value for s in EDITOR_STATUSES],
                            values=values or current, errors=errors or {})

    @router.get("/subscribers/{subscriber_id}/edit")
    def edit_subscriber(request: Request, subscriber_id: int) -> Response:
        return edit_form(request, subscriber_id)

    @router.post("/subscribers/{subscriber_id}/edit")
    def save_subscriber(
        request: Request,
        subscriber_id: int,
        email: Annotated[str, Form(max_length=FIELD_MAX)] = "",
        name: Annotated[str, Form(max_length=FIELD_MAX)] = "",
        status: Annotated[str, Form()] = "",
        _: AdminSession = csrf,
    ) -> Response:
        values = {"email": email, "name": name, "status": status}

        def refuse(field: str, text: str) -> Response:
            return edit_form(request, subscriber_id, 400, values=values, errors={field: text})

        if not email.strip():
            return refuse("email", "Enter the reader's email address.")
        allowed = {s.value for s in EDITOR_STATUSES}
        if status and status not in allowed:
            return refuse("status", f"Choose {' or '.join(sorted(allowed))}, or keep the status.")
        try:
            row = update_subscriber(sessions, services.suppression, subscriber_id, email=email, name=name,
                                    status=SubscriberStatus(status) if status else None)
        except SubscriberNotFound:
            return not_found(request, subscriber_id)
        except (InvalidAddress, DuplicateSubscriber) as exc:
            return refuse("email", f"Not saved: {exc}.")
        except StatusChangeRefused as exc:
            return refuse("status", f"Not saved: {exc}.")
        back = RedirectResponse(f"{PAGE}/{subscriber_id}", status_code=303)
        return pages.flash(back, "ok", f"Saved: {row.email} is {row.status.value}.")

    @router.get("/subscribers/{subscriber_id}/erase")
    def erase_confirm(request: Request, subscriber_id: int) -> Response:
        try:
            email = reader_card(sessions, services.suppression, subscriber_id=subscriber_id).history.email
        except SubscriberNotFound:
            return not_found(request, subscriber_id)
        return pages.render(request, "admin_subscriber_form.html", mode="erase", subscriber_id=subscriber_id,
                            email=email, values={}, errors={})

    @router.post("/subscribers/{subscriber_id}/erase")
    def erase(request: Request, subscriber_id: int, _: AdminSession = csrf) -> Response:
        try:
            email = subscriptions.erase_subscriber(subscriber_id)
        except SubscriberNotFound:
            return not_found(request, subscriber_id)
        return pages.flash(RedirectResponse(PAGE, status_code=303), "ok",
                           f"{email} was erased: only a keyed hash stays on the suppression list, "
                           f"so the address is never mailed or imported again.")

    @router.post("/subscribers/{subscriber_id}/status")
    def set_status(
        request: Request,
        subscriber_id: int,
        status: Annotated[str, Form()] = "",
        _: AdminSession = csrf,
    ) -> Response:
        back = RedirectResponse(f"{PAGE}/{subscriber_id}", status_code=303)
        allowed = {s.value for s in EDITOR_STATUSES}
        if status not in allowed:
            return pages.flash(back, "error", f"Not changed: choose {' or '.join(sorted(allowed))}.")
        try:
            reader = subscriptions.set_status(subscriber_id, SubscriberStatus(status), by="the editor (admin page)")
        except SubscriberNotFound:
            return not_found(request, subscriber_id)
        except StatusChangeRefused as exc:
            return pages.flash(back, "error", f"Not changed: {exc}.")
        return pages.flash(back, "ok", f"{reader.email} is now {reader.status.value}.")

    @router.post("/subscribers/{subscriber_id}/unsuppress")
    def lift_suppression(request: Request, subscriber_id: int, _: AdminSession = csrf) -> Response:
        back = RedirectResponse(f"{PAGE}/{subscriber_id}", status_code=303)
        try:
            lifted = unsuppress(sessions, services.suppression, subscriber_id=subscriber_id,
                                by="the editor (admin page)")
        except SubscriberNotFound:
            return not_found(request, subscriber_id)
        except NotSuppressed as exc:
            return pages.flash(back, "error", f"Not changed: {exc}.")
        status = lifted.status.value if lifted.status else "unchanged"
        return pages.flash(back, "ok", f"{lifted.email} is off the suppression list (it was {lifted.reason}); "
                                       f"the reader is {status}.")

    return router
