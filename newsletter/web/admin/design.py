"""The design page (logo, accent colour, font, footer, with a live preview) and the custom
issue template: upload, check, preview, use, reset; each for one list (``?list=SLUG``, the first
list without it), whose design is `lists.design`'s."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from markupsafe import Markup
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from newsletter.render.custom_template import TemplateRejected, check_upload, render_preview, reset_template, use_draft
from newsletter.issues.list_profile import FONT_STACKS, InvalidProfile, ListProfile, validate_changes
from newsletter.lists.catalog import ListInfo, all_lists, list_by_slug, profile_for
from newsletter.lists.design import follow_first_list, keep_template_draft, own_fields, save_design, template_draft
from newsletter.media.fetch import web_fetch
from newsletter.media.images import ImageRejected
from newsletter.render.cage import LIMITS
from newsletter.render.issue import ISSUE_HTML, TemplateError
from newsletter.render.layout import MAX_DEPTH, megabytes
from newsletter.render.logo import LogoState, adopt_logo, logo_problem, logo_state
from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.admin.list_choice import ListSlug, list_query
from newsletter.web.admin.media import read_upload
from newsletter.web.pages import Pages

PAGE = "/admin/design"
TEMPLATE_PAGE = "/admin/design/template"
DESIGN_FIELDS = ("logo_url", "accent_color", "font_family", "footer_text")
MAX_UPLOAD = 200_000 * 4  # bytes: the character limit in the worst UTF-8 case
LOGO_MISSING = "there is no uploaded image at this address any more: upload the logo again"


def design_form(
    logo_url: Annotated[str, Form()] = "",
    accent_color: Annotated[str, Form()] = "",
    accent_text: Annotated[str, Form()] = "",
    font_family: Annotated[str, Form()] = "",
    footer_text: Annotated[str, Form()] = "",
) -> dict[str, str]:
    """The design form's fields as posted: the save and the no-JavaScript preview take the same."""
    return {"logo_url": logo_url, "accent_color": accent_color, "accent_text": accent_text,
            "font_family": font_family, "footer_text": footer_text}


DesignForm = Annotated[dict[str, str], Depends(design_form)]


def contrast_with_white(colour: str) -> float:
    """WCAG contrast ratio of a #rrggbb colour against white (links sit on white)."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


def _design_changes(logo_url: str, accent_color: str, accent_text: str, font_family: str, footer_text: str,
                    saved: ListProfile) -> dict[str, Any]:
    # Two inputs for one colour (a picker and its text): whichever the editor changed wins.
    accent = accent_text.strip() if accent_text.strip().lower() != saved.accent_color else accent_color.strip()
    return {"logo_url": logo_url, "accent_color": accent or saved.accent_color, "font_family": font_family,
            "footer_text": footer_text}


def _preview_query(profile: ListProfile, mailing_list: ListInfo) -> str:
    chosen = {} if mailing_list.first else {"list": mailing_list.slug}
    return urlencode({**chosen, **{name: getattr(profile, name) for name in DESIGN_FIELDS}})


def _shipped_template(services: Services) -> str:
    return (services.settings.templates_dir / ISSUE_HTML).read_text(encoding="utf-8")


def limits_text() -> str:
    """The cage's limits as the upload page states them."""
    return (f"at most {MAX_DEPTH} levels of nested tags, {LIMITS.cpu_seconds} s of CPU, "
            f"{megabytes(LIMITS.memory_bytes)} of memory and {megabytes(LIMITS.output_chars)} of output")


def admin_design_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    # A default, not an Annotated alias: see admin.py (postponed annotations resolve in globals).
    csrf = Depends(auth.require_csrf)
    settings = services.settings

    def chosen(slug: str | None) -> ListInfo:
        return list_by_slug(services.sessions, slug)  # UnknownList: the 404 page

    def design_page(request: Request, mailing_list: ListInfo, shown: ListProfile, values: dict[str, Any],
                    errors: dict[str, str], status: int = 200, previewing: bool = False) -> Response:
        ratio = contrast_with_white(shown.accent_color)
        return pages.render(
            request, "admin_design.html", status, values=values, errors=errors, fonts=FONT_STACKS,
            preview_query=_preview_query(shown, mailing_list), previewing=previewing,
            low_contrast=ratio < 4.5, contrast=f"{ratio:.1f}",
            # The rule every render follows; its sentences are render.logo's constants, no user text.
            logo_problem=Markup(logo_problem(shown.logo_url, services.media)),
            custom_in_use=profile_for(services.sessions, settings, mailing_list.id).custom_template is not None,
            lists=all_lists(services.sessions), chosen=mailing_list, list_query=list_query(mailing_list),
            own=own_fields(services.sessions, mailing_list.id),
        )

    def submitted(form: dict[str, Any], mailing_list: ListInfo) -> tuple[ListProfile, dict[str, Any], dict[str, str]]:
        """The saved profile with the form's valid values over it, the form values, and errors."""
        saved = profile_for(services.sessions, settings, mailing_list.id)
        changes = _design_changes(saved=saved, **form)
        clean, errors = validate_changes(changes)
        if "logo_url" not in errors and logo_state(clean.get("logo_url") or "", services.media) is LogoState.MISSING:
            errors["logo_url"] = LOGO_MISSING  # one of our own /media/ URLs, checked where it is cheap
        shown = dataclasses.replace(saved, **{k: v for k, v in clean.items() if k not in errors})
        values = {**changes, "footer_text": form["footer_text"]}
        return shown, values, errors

    @router.get("/design")
    def show(request: Request, slug: ListSlug = None) -> Response:
        mailing_list = chosen(slug)
        profile = profile_for(services.sessions, settings, mailing_list.id)
        values = {name: getattr(profile, name) for name in DESIGN_FIELDS}
        return design_page(request, mailing_list, profile, values, {})

    @router.post("/design")
    def save(
        request: Request,
        form: DesignForm,
        slug: ListSlug = None,
        _: AdminSession = csrf,
    ) -> Response:
        mailing_list = chosen(slug)
        page = PAGE + list_query(mailing_list)
        shown, values, errors = submitted(form, mailing_list)
        if errors:
            return design_page(request, mailing_list, shown, values, errors, 422)
        # Someone else's address: copied into the media store once, here, as renders never fetch.
        logo = adopt_logo(values["logo_url"], services.media, web_fetch(settings))
        values = {**values, "logo_url": logo.url}
        try:
            save_design(services.sessions, settings, mailing_list.id, **{name: values[name] for name in DESIGN_FIELDS})
        except InvalidProfile as exc:  # checked above; kept so a race cannot become a 500
            return design_page(request, mailing_list, shown, values, exc.errors, 422)
        if logo.error:
            text = (f"Design saved, but the logo could not be copied from its address ({logo.error}), so emails "
                    "show the newsletter's name instead. Check the address and save again, or upload the logo.")
            return pages.flash(RedirectResponse(page, status_code=303), "error", text)
        copied = " The logo was copied into the media store." if logo.copied else ""
        text = f"Design saved for {mailing_list.name}: its unsent issues use it.{copied}"
        return pages.flash(RedirectResponse(page, status_code=303), "ok", text)

    @router.post("/design/follow")
    def follow(slug: ListSlug = None, _: AdminSession = csrf) -> Response:
        mailing_list = chosen(slug)
        page = PAGE + list_query(mailing_list)
        try:
            follow_first_list(services.sessions, settings, mailing_list.id)
        except InvalidProfile as exc:
            return pages.flash(RedirectResponse(page, status_code=303), "error", f"Nothing changed: {exc.message}.")
        text = f"{mailing_list.name} uses the first list's design again: its unsent issues follow it."
        return pages.flash(RedirectResponse(page, status_code=303), "ok", text)

    @router.post("/design/preview")
    def preview(
        request: Request,
        form: DesignForm,
        slug: ListSlug = None,
        _: AdminSession = csrf,
    ) -> Response:
        # The preview button of the page without JavaScript: nothing is saved.
        mailing_list = chosen(slug)
        shown, values, errors = submitted(form, mailing_list)
        return design_page(request, mailing_list, shown, values, errors, 422 if errors else 200, previewing=True)

    @router.get("/design/preview.html")
    def preview_html(
        slug: ListSlug = None,
        logo_url: Annotated[str | None, Query()] = None,
        accent_color: Annotated[str | None, Query()] = None,
        font_family: Annotated[str | None, Query()] = None,
        footer_text: Annotated[str | None, Query()] = None,
    ) -> Response:
        mailing_list = chosen(slug)
        saved = profile_for(services.sessions, settings, mailing_list.id)
        asked = {"logo_url": logo_url, "accent_color": accent_color, "font_family": font_family,
                 "footer_text": footer_text}
        clean, errors = validate_changes({k: v for k, v in asked.items() if v is not None})
        # A logo that cannot load shows as the list name, as in every render (render.logo); the page warns.
        shown = dataclasses.replace(saved, **{k: v for k, v in clean.items() if k not in errors})
        try:
            return HTMLResponse(render_preview(services.sessions, settings, shown, list_id=mailing_list.id))
        except TemplateError as exc:
            return PlainTextResponse(f"The preview could not be rendered: {exc}", status_code=422)

    # Plain def: the image is decoded and re-encoded in the thread pool.
    @router.post("/design/logo")
    def upload_logo(
        request: Request,
        logo_file: Annotated[UploadFile | None, File()] = None,
        slug: ListSlug = None,
        _: AdminSession = csrf,
    ) -> Response:
        mailing_list = chosen(slug)
        try:
            item = services.media.add(read_upload(logo_file), name_hint=(logo_file.filename or "") if logo_file else "")
        except ImageRejected as exc:
            profile = profile_for(services.sessions, settings, mailing_list.id)
            values = {name: getattr(profile, name) for name in DESIGN_FIELDS}
            return design_page(request, mailing_list, profile, values, {"logo_file": f"Not stored: {exc}"}, 422)
        save_design(services.sessions, settings, mailing_list.id, logo_url=item.url)
        text = f"Logo uploaded ({item.width} x {item.height} px) and saved: {mailing_list.name}'s unsent issues use it."
        return pages.flash(RedirectResponse(PAGE + list_query(mailing_list), status_code=303), "ok", text)

    # -- the custom issue template

    def template_page(request: Request, mailing_list: ListInfo, error: str = "", status: int = 200) -> Response:
        profile = profile_for(services.sessions, settings, mailing_list.id)
        return pages.render(request, "admin_template.html", status, error=error,
                            custom_in_use=profile.custom_template is not None, chosen=mailing_list,
                            list_query=list_query(mailing_list),
                            draft=template_draft(services.sessions, mailing_list.id) is not None, limits=limits_text())

    def to_template_page(mailing_list: ListInfo, text: str) -> Response:
        return pages.flash(RedirectResponse(TEMPLATE_PAGE + list_query(mailing_list), status_code=303), "ok", text)

    @router.get("/design/template")
    def template(request: Request, slug: ListSlug = None) -> Response:
        return template_page(request, chosen(slug))

    @router.get("/design/template.mjml")
    def download_template(slug: ListSlug = None) -> Response:
        profile = profile_for(services.sessions, settings, chosen(slug).id)
        text = profile.custom_template or _shipped_template(services)
        return PlainTextResponse(text, headers={"content-disposition": 'attachment; filename="issue.mjml.j2"'})

    # Plain def, as every route that checks or renders an editor's template: it runs in the
    # thread pool and waits there for the cage, so the event loop keeps answering meanwhile.
    @router.post("/design/template")
    def upload_template(
        request: Request,
        template_file: Annotated[UploadFile | None, File()] = None,
        slug: ListSlug = None,
        _: AdminSession = csrf,
    ) -> Response:
        mailing_list = chosen(slug)
        data = template_file.file.read(MAX_UPLOAD + 1) if template_file is not None else b""
        if not data:
            return template_page(request, mailing_list, "Choose a template file (.mjml) to upload.", 422)
        if len(data) > MAX_UPLOAD:
            return template_page(request, mailing_list, "The file is too large for an email template.", 422)
        try:
            source = data.decode("utf-8")
        except UnicodeDecodeError:
            return template_page(request, mailing_list, "The file is not UTF-8 text.", 422)
        try:
            check_upload(services.sessions, settings, source, mailing_list.id)
        except TemplateRejected as exc:
            return template_page(request, mailing_list, f"Not accepted: {exc}", 422)
        return to_template_page(mailing_list, "The template works with the latest issue. Check the preview, then use it.")

    @router.get("/design/template/preview.html")
    def template_preview(slug: ListSlug = None) -> Response:
        mailing_list = chosen(slug)
        draft = template_draft(services.sessions, mailing_list.id)
        if draft is None:
            return PlainTextResponse("No template is waiting to be used.", status_code=404)
        profile = profile_for(services.sessions, settings, mailing_list.id)
        try:
            return HTMLResponse(render_preview(services.sessions, settings, profile, template_source=draft,
                                               list_id=mailing_list.id))
        except TemplateError as exc:
            return PlainTextResponse(f"The preview could not be rendered: {exc}", status_code=422)

    @router.post("/design/template/use")
    def use(request: Request, slug: ListSlug = None, _: AdminSession = csrf) -> Response:
        mailing_list = chosen(slug)
        draft = template_draft(services.sessions, mailing_list.id)
        if draft is None:
            return template_page(request, mailing_list, "There is no uploaded template to use: upload one first.", 409)
        try:
            use_draft(services.sessions, settings, draft, mailing_list.id)
        except (TemplateRejected, InvalidProfile) as exc:
            return template_page(request, mailing_list, f"Not used: {exc}", 422)
        return to_template_page(mailing_list, "Your template is in use: the next issues are rendered with it.")

    @router.post("/design/template/discard")
    def discard(slug: ListSlug = None, _: AdminSession = csrf) -> Response:
        mailing_list = chosen(slug)
        keep_template_draft(services.sessions, mailing_list.id, None)
        return to_template_page(mailing_list, "The uploaded template was discarded.")

    @router.post("/design/template/reset")
    def reset(slug: ListSlug = None, _: AdminSession = csrf) -> Response:
        mailing_list = chosen(slug)
        reset_template(services.sessions, settings, mailing_list.id)
        return to_template_page(mailing_list, "Back to the shipped template: the next issues are rendered with it.")

    return router
