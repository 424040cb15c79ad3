"""The issue page as an editor: subject, preheader and the editor's note; adding, removing and
reordering articles (buttons, or dragging with editor.js); a preview of unsaved changes (at 600 and 375 px, dark, plain text).

Every action is a plain form that works without JavaScript; ``static/editor.js`` submits the
same forms in the background and previews as the editor types (POST .../preview -> JSON).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import JSONResponse, RedirectResponse, Response

from newsletter.readers.addresses import InvalidAddress, normalise_email
from newsletter.delivery.types import Progress
from newsletter.abtests.figures import load_summary
from newsletter.issues.figures import issue_figures
from newsletter.issues.tracking import tracking_enabled
from newsletter.issues.editor import (
    InvalidIssueEdit,
    IssueNotEditable,
    addable_articles,
    load_issue,
    move_article,
    preview_issue,
    set_issue_articles,
    update_issue,
)
from newsletter.issues.list_profile import load_profile
from newsletter.issues.preflight import Finding, Preflight, check_issue
from newsletter.issues.publishing import IssueNotFound, TestSendFailed
from newsletter.render.issue import RenderedIssue, TemplateError, fill_html, fill_text
from newsletter.services import Services
from newsletter.schedule.issue_status import issue_schedule
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages
from newsletter.issues.listing import send_count, issue_detail
from newsletter.web.admin.schedule import zone_groups

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"  # served at /static (editor.js)
PREVIEW_WIDTHS = (600, 375)  # a desktop client's email column and a phone
REFRESH_SECONDS = 5  # without JavaScript the issue page reloads this often while the issue is sending
POLL_SECONDS = 2  # with it, editor.js asks for the progress this often instead
SENDABLE = ("draft", "scheduled")  # the statuses a send (or a schedule) can start from
SENT_FORMAT = "%d %B %Y at %H:%M %Z"
ADDABLE_SHOWN = 20
SEARCH_MAX = 200
TEST_MAX = 10  # test copies per send: enough for the editor's own mailboxes, too few to be a list

# Dark mode, two ways, as mail apps do it. An email with its own `prefers-color-scheme: dark` rules
# gets them (Apple Mail, iOS Mail): the query is rewritten to always match, since an iframe cannot be
# told the reader prefers dark (Chromium ignores the frame's `color-scheme` for that query). An email
# without them is shown as apps that force dark mode show it (Gmail and Outlook apps, Outlook.com):
# colours inverted, hues kept, images left as they are. Only CSS: the sandboxed frame runs no script.
_DARK_QUERY = re.compile(r"\(\s*prefers-color-scheme\s*:\s*dark\s*\)", re.IGNORECASE)
FORCED_DARK = (
    "<style>html{background:#fff;filter:invert(1) hue-rotate(180deg)}"
    "img,picture,video{filter:invert(1) hue-rotate(180deg)}</style>"
)


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def duration(seconds: float) -> str:
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def time_left(progress: Progress) -> str:
    if progress.done == progress.total:
        return "none: nothing is waiting to be sent"
    if progress.issue_status != "sending":
        return f"none while {progress.issue_status}"
    if progress.eta_seconds is None:
        return "unknown: nothing was sent in the last minute"
    return f"about {duration(progress.eta_seconds)}"


def sent_line(sessions: sessionmaker[Session], progress: Progress, zone: str) -> str:
    """"Sent to 4 readers on 27 November 2026 at 07:02 GMT": the locked issue's one line."""
    detail = issue_detail(sessions, progress.issue_id)
    readers = plural(progress.counts.get("sent", 0), "reader", "readers")
    if detail is None or detail.row.sent_at is None:
        return f"Sent to {readers}."
    return f"Sent to {readers} on {detail.row.sent_at.astimezone(ZoneInfo(zone)):{SENT_FORMAT}}."


# Only in the admin's previews, never in the email: the footer's missing postal address.
POSTAL_PROMPT = (
    '<div role="note" style="margin:0 auto 24px;max-width:552px;padding:12px 16px;border:2px dashed #b3261e;'
    'background:#fff4f2;color:#5c1a14;font:15px/1.5 system-ui,sans-serif">'
    '<strong>Add your postal address in <a href="/admin/settings#postal_address" target="_blank" '
    'style="color:#5c1a14">Settings</a>.</strong> The law in many countries wants it in every newsletter\'s '
    "footer. (Only this preview shows this note: readers never see it.)</div>"
)


def with_prompts(html: str, postal_address: str) -> str:
    """The preview's notes to the editor, under the footer, where the address would go."""
    if postal_address:
        return html
    at = html.lower().rfind("</body>")
    return html[:at] + POSTAL_PROMPT + html[at:] if at >= 0 else html + POSTAL_PROMPT


def dark_variant(html: str) -> str:
    if _DARK_QUERY.search(html):
        return _DARK_QUERY.sub("all", html)
    at = html.lower().find("</head>")
    return html[:at] + FORCED_DARK + html[at:] if at >= 0 else FORCED_DARK + html


@dataclass(frozen=True)
class Preview:
    """What the preview frames show: the saved issue (by URL) or unsaved values (inline)."""

    html: str
    dark_html: str
    text: str

    @classmethod
    def of(cls, rendered: RenderedIssue, base_url: str, postal_address: str = "") -> Preview:
        html = with_prompts(fill_html(rendered.html, None, base_url=base_url), postal_address)
        return cls(html, dark_variant(html), fill_text(rendered.text, None, base_url=base_url))


class IssuePages:
    """Renders the issue page with whatever the request adds: unsaved values, their errors, a preview."""

    def __init__(self, services: Services, pages: Pages) -> None:
        self._services = services
        self._pages = pages

    def render(
        self, request: Request, issue_id: int, *, status_code: int = 200, form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None, preview: Preview | None = None, query: str = "",
        test_addresses: str = "",
    ) -> Response:
        services = self._services
        try:
            issue = load_issue(services.sessions, issue_id)
        except IssueNotFound:
            return self._pages.error(request, 404, "No such issue", f"There is no issue {issue_id}.")
        progress = services.publisher.progress(issue_id)
        sendable = progress.issue_status in SENDABLE  # else locked: no preflight, schedule or send
        try:
            preflight = check_issue(services, issue_id) if sendable else None
            text = services.publisher.preview_text(issue_id)
        except TemplateError as exc:
            preflight, text = Preflight(errors=[Finding("template", str(exc))]), ""
        schedule = issue_schedule(services.sessions, services.settings, issue_id)
        active = send_count(services.sessions, issue_id)
        values = {"subject": issue.subject, "preheader": issue.preheader, "editor_note": issue.editor_note,
                  "article_mode": issue.article_mode}
        values.update(form or {})
        context: dict[str, Any] = {
            "issue": issue,
            "values": values,
            "errors": errors or {},
            "preview": preview,
            "saved_text": text,
            "widths": PREVIEW_WIDTHS,
            "query": query,
            "addable": addable_articles(services.sessions, issue_id, query, ADDABLE_SHOWN) if issue.editable else [],
            "test_addresses": test_addresses,
            "progress": progress,
            "status": progress.issue_status,  # read with the counts, so the buttons match them
            "time_left": time_left(progress),
            "refresh": REFRESH_SECONDS if progress.issue_status == "sending" else None,
            "poll": POLL_SECONDS,
            "active": active,
            "audience": plural(active, "reader", "readers"),
            "sendable": sendable,
            "sent_line": sent_line(services.sessions, progress, schedule.zone) if schedule and
            progress.issue_status == "sent" else "",
            "schedule": schedule,
            "zone_groups": zone_groups() if sendable else (),
            "preflight": preflight,
            "figures": issue_figures(services.sessions, issue_id) if progress.total else None,
            "ab": load_summary(services.sessions, issue_id),
            "tracking_on": tracking_enabled(services.sessions, services.settings) if sendable else False,
        }
        return self._pages.render(request, "admin_issue.html", status_code, **context)


def test_recipients(raw: str) -> list[str]:
    """Addresses separated by commas, semicolons or new lines; InvalidAddress names each bad one."""
    given = [part.strip() for part in raw.replace(";", ",").replace("\n", ",").split(",") if part.strip()]
    if not given:
        raise InvalidAddress("enter at least one address")
    if len(given) > TEST_MAX:
        raise InvalidAddress(f"at most {TEST_MAX} addresses at once ({len(given)} given)")
    found: list[str] = []
    problems: list[str] = []
    for address in given:
        try:
            normal = normalise_email(address)
        except InvalidAddress as exc:
            problems.append(f"{address}: {exc}")
            continue
        if normal not in found:
            found.append(normal)
    if problems:
        raise InvalidAddress("; ".join(problems))
    return found


def issue_form(
    subject: Annotated[str, Form()] = "",
    preheader: Annotated[str, Form()] = "",
    editor_note: Annotated[str, Form()] = "",
    article_mode: Annotated[str, Form(max_length=20)] = "",
) -> dict[str, str]:
    """The issue form's fields as posted: saved, previewed without JS, or previewed by editor.js."""
    form = {"subject": subject, "preheader": preheader, "editor_note": editor_note}
    if article_mode:  # absent: kept as it is
        form["article_mode"] = article_mode
    return form


IssueForm = Annotated[dict[str, str], Depends(issue_form)]


def admin_editor_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    csrf = Depends(auth.require_csrf)  # see admin.py: a default, not an Annotated alias
    issue_pages = IssuePages(services, pages)

    def postal() -> str:
        return load_profile(services.sessions, services.settings).postal_address

    def to_issue(issue_id: int, kind: str, text: str, anchor: str = "") -> Response:
        target = f"/admin/issues/{issue_id}{anchor}"
        return pages.flash(RedirectResponse(target, status_code=303), kind, text)

    def not_editable(request: Request, issue_id: int, exc: Exception, form: dict[str, str] | None = None) -> Response:
        return issue_pages.render(request, issue_id, status_code=409, form=form,
                                  errors={"issue": f"Not changed: {exc}."})

    @router.get("/issues/{issue_id}")
    def issue(request: Request, issue_id: int, q: Annotated[str, Query(max_length=1000)] = "") -> Response:
        return issue_pages.render(request, issue_id, query=" ".join(q.split())[:SEARCH_MAX])

    @router.post("/issues/{issue_id}/edit")
    def edit(
        request: Request,
        issue_id: int,
        form: IssueForm,
        action: Annotated[str, Form()] = "save",
        _: AdminSession = csrf,
    ) -> Response:
        try:
            if action == "preview":  # the no-JavaScript preview: the page again, frames showing the form
                rendered = preview_issue(services.sessions, services.settings, issue_id, **form)
                return issue_pages.render(request, issue_id, form=form,
                                          preview=Preview.of(rendered, services.settings.base_url, postal()))
            update_issue(services.sessions, services.settings, issue_id, **form)
        except InvalidIssueEdit as exc:
            return issue_pages.render(request, issue_id, status_code=400, form=form, errors=exc.errors)
        except IssueNotEditable as exc:
            return not_editable(request, issue_id, exc, form)
        except TemplateError as exc:
            return issue_pages.render(request, issue_id, status_code=400, form=form,
                                      errors={"issue": f"The template could not be rendered: {exc}"})
        return to_issue(issue_id, "ok", "Saved.")

    @router.post("/issues/{issue_id}/preview")
    def preview(
        issue_id: int,
        form: IssueForm,
        _: AdminSession = csrf,
    ) -> Response:
        """For editor.js: the issue with these unsaved values, as JSON; nothing is stored."""
        try:
            rendered = preview_issue(services.sessions, services.settings, issue_id, **form)
        except InvalidIssueEdit as exc:
            return JSONResponse({"errors": exc.errors}, status_code=422)
        except TemplateError as exc:
            return JSONResponse({"errors": {"issue": f"The template could not be rendered: {exc}"}}, status_code=422)
        except IssueNotFound as exc:
            return JSONResponse({"errors": {"issue": str(exc)}}, status_code=404)
        shown = Preview.of(rendered, services.settings.base_url, postal())
        return JSONResponse({"html": shown.html, "dark_html": shown.dark_html, "text": shown.text, "errors": {}})

    def change_articles(request: Request, issue_id: int, change: Callable[[], None], done: str) -> Response:
        try:
            change()
        except InvalidIssueEdit as exc:
            return to_issue(issue_id, "error", f"Not changed: {exc}.", "#articles")
        except IssueNotEditable as exc:
            return not_editable(request, issue_id, exc)
        return to_issue(issue_id, "ok", done, "#articles")

    @router.post("/issues/{issue_id}/articles/add")
    def add(request: Request, issue_id: int, article_id: Annotated[int, Form()], _: AdminSession = csrf) -> Response:
        def change() -> None:
            current = [a.id for a in load_issue(services.sessions, issue_id).articles]
            set_issue_articles(services.sessions, services.settings, issue_id, [*current, article_id])

        return change_articles(request, issue_id, change, "Article added at the end.")

    @router.post("/issues/{issue_id}/articles/{article_id}/remove")
    def remove(request: Request, issue_id: int, article_id: int, _: AdminSession = csrf) -> Response:
        def change() -> None:
            current = [a.id for a in load_issue(services.sessions, issue_id).articles]
            if article_id not in current:
                raise InvalidIssueEdit({"articles": f"article {article_id} is not in this issue"})
            kept = [i for i in current if i != article_id]
            set_issue_articles(services.sessions, services.settings, issue_id, kept)

        return change_articles(request, issue_id, change, "Article removed.")

    @router.post("/issues/{issue_id}/articles/{article_id}/up")
    def up(request: Request, issue_id: int, article_id: int, _: AdminSession = csrf) -> Response:
        return change_articles(
            request, issue_id, lambda: move_article(services.sessions, services.settings, issue_id, article_id, -1),
            "Article moved up.")

    @router.post("/issues/{issue_id}/articles/{article_id}/down")
    def down(request: Request, issue_id: int, article_id: int, _: AdminSession = csrf) -> Response:
        return change_articles(
            request, issue_id, lambda: move_article(services.sessions, services.settings, issue_id, article_id, 1),
            "Article moved down.")

    @router.post("/issues/{issue_id}/articles/order")
    def order(
        request: Request, issue_id: int, article_ids: Annotated[str, Form(max_length=10_000)] = "",
        _: AdminSession = csrf,
    ) -> Response:
        """The order editor.js posts after a drag and drop: the issue's own articles, comma-separated."""
        def change() -> None:
            try:
                wanted = [int(part) for part in article_ids.split(",") if part.strip()]
            except ValueError as exc:
                raise InvalidIssueEdit({"articles": "the new order is not a list of article numbers"}) from exc
            current = [a.id for a in load_issue(services.sessions, issue_id).articles]
            # Only a reordering: a stale page (an article added or removed since) must not undo that change.
            if sorted(wanted) != sorted(current):
                raise InvalidIssueEdit({"articles": "the issue's articles changed meanwhile; reload the page"})
            set_issue_articles(services.sessions, services.settings, issue_id, wanted)

        return change_articles(request, issue_id, change, "Articles reordered.")

    @router.post("/issues/{issue_id}/test")
    def send_test(
        request: Request, issue_id: int, test_address: Annotated[str, Form(max_length=10_000)] = "",
        _: AdminSession = csrf,
    ) -> Response:
        try:
            addresses = test_recipients(test_address)
        except InvalidAddress as exc:
            return issue_pages.render(request, issue_id, status_code=400, errors={"test_address": f"Test not sent: {exc}"},
                                      test_addresses=test_address)
        sent: list[str] = []
        try:
            for address in addresses:
                services.publisher.send_test(issue_id, address, services.backend)
                sent.append(address)
        except (InvalidAddress, TestSendFailed, TemplateError) as exc:
            done = f" (sent to {', '.join(sent)})" if sent else ""
            return to_issue(issue_id, "error", f"Test not sent: {exc}{done}", "#test")
        return to_issue(issue_id, "ok", f"Test sent to {', '.join(sent)}.", "#test")

    return router
