"""The editor's audience pages: a reader's tags and fields, and the segments page (the list with
each segment's count, and a form to save a new one). The rules are the audience domain's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from newsletter.lists.catalog import all_lists
from newsletter.errors import Conflict, InvalidInput, NotFound
from newsletter.readers.models import SubscriberStatus
from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

FIELD_PREFIX = "field_"
TEXT_MAX = 2000
OPS = ["=", "!=", "<", "<=", ">", ">=", "contains", "set", "unset"]


def _tag_list(text: str) -> list[str]:
    from newsletter.audience.values import split_tags

    return split_tags(text) if text.strip() else []


def admin_audience_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    csrf = Depends(auth.require_csrf)
    audience = services.audience

    @router.post("/subscribers/{subscriber_id}/audience")
    async def save_audience(request: Request, subscriber_id: int, _: AdminSession = csrf) -> Response:
        form = await request.form()
        back = RedirectResponse(f"/admin/subscribers/{subscriber_id}", status_code=303)
        values = {str(k)[len(FIELD_PREFIX):]: str(v)[:TEXT_MAX] for k, v in form.multi_items()
                  if str(k).startswith(FIELD_PREFIX)}
        try:
            change = audience.check_change(_tag_list(str(form.get("tags", ""))[:TEXT_MAX]), values, text=True)
            audience.change(subscriber_id, change)
        except NotFound:
            return pages.error(request, 404, "No such subscriber", f"There is no subscriber {subscriber_id}.")
        except InvalidInput as exc:
            return pages.flash(back, "error", f"Not saved: {exc}.")
        return pages.flash(back, "ok", "Saved the reader's tags and fields.")

    def segments_page(request: Request, status_code: int = 200, error: str = "",
                      values: dict[str, str] | None = None) -> Response:
        return pages.render(request, "admin_segments.html", status_code, segments=audience.segments(),
                            lists=all_lists(services.sessions),
                            field_defs=audience.fields(), ops=OPS, statuses=[s.value for s in SubscriberStatus],
                            error=error, values=values or {})

    @router.get("/segments")
    def segments(request: Request) -> Response:
        return segments_page(request)

    @router.post("/segments")
    def create_segment(
        request: Request,
        name: Annotated[str, Form(max_length=TEXT_MAX)] = "",
        list_slug: Annotated[str, Form(alias="list", max_length=100)] = "",
        all_tags: Annotated[str, Form(max_length=TEXT_MAX)] = "",
        any_tags: Annotated[str, Form(max_length=TEXT_MAX)] = "",
        no_tags: Annotated[str, Form(max_length=TEXT_MAX)] = "",
        field_key: Annotated[str, Form(max_length=100)] = "",
        field_op: Annotated[str, Form(max_length=20)] = "",
        field_value: Annotated[str, Form(max_length=TEXT_MAX)] = "",
        status: Annotated[str, Form(max_length=20)] = "",
        zone: Annotated[str, Form(max_length=100)] = "",
        signed_up_after: Annotated[str, Form(max_length=40)] = "",
        signed_up_before: Annotated[str, Form(max_length=40)] = "",
        opened_last: Annotated[str, Form(max_length=5)] = "",
        _: AdminSession = csrf,
    ) -> Response:
        values = {"name": name, "list": list_slug, "all_tags": all_tags, "any_tags": any_tags, "no_tags": no_tags,
                  "field_key": field_key, "field_op": field_op, "field_value": field_value, "status": status,
                  "zone": zone, "signed_up_after": signed_up_after, "signed_up_before": signed_up_before,
                  "opened_last": opened_last}
        try:
            flt: dict[str, object] = {}
            tags = [{"match": match, "tags": _tag_list(text)} for match, text in
                    (("all", all_tags), ("any", any_tags), ("none", no_tags)) if text.strip()]
            if tags:
                flt["tags"] = tags
            if field_key:
                flt["fields"] = [{"key": field_key, "op": field_op or "=", "value": field_value or None}]
            if status:
                flt["statuses"] = [status]
            if zone.strip():
                flt["zones"] = [zone.strip()]
            for key, text in (("signed_up_after", signed_up_after), ("signed_up_before", signed_up_before)):
                if text.strip():
                    flt[key] = text.strip()
            if opened_last.strip():
                if not opened_last.strip().isdigit():
                    raise InvalidInput("opened in the last N issues: N is a whole number")
                flt["engagement"] = {"kind": "opened_or_clicked", "last_issues": int(opened_last)}
            segment = audience.create_segment(name, list_slug or None, flt)
        except (InvalidInput, NotFound) as exc:
            return segments_page(request, 400, f"Not saved: {exc}.", values)
        back = RedirectResponse("/admin/segments", status_code=303)
        return pages.flash(back, "ok", f"Saved the segment “{segment.name}”: {segment.count} readers now.")

    @router.post("/segments/{segment_id}/remove")
    def remove_segment(request: Request, segment_id: int, _: AdminSession = csrf) -> Response:
        try:
            audience.remove_segment(segment_id)
        except (Conflict, NotFound) as exc:
            return segments_page(request, 409 if isinstance(exc, Conflict) else 404, f"Not removed: {exc}.")
        return pages.flash(RedirectResponse("/admin/segments", status_code=303), "ok", f"Removed segment {segment_id}.")

    return router
