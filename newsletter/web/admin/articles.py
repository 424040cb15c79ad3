"""The editor's article pages: the list (search by title or author, show hidden, pages of 50),
the writing desk (a new article or an existing one in Markdown with its feature image, a preview as
the email shows it, autosave, the draft history with restore), and hiding or showing an article again.

Every action is a plain form; static/article_editor.js only adds the toolbar, the live preview
and autosave, through the JSON routes ``/articles/preview`` and ``/articles/{id}/autosave``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from newsletter.content.articles import (
    SEARCH_MAX,
    ArticleInput,
    ArticleNotFound,
    InvalidArticle,
    absolute_media_url,
    count_articles,
    get_article,
    list_articles,
    set_hidden,
)
from newsletter.content import revisions
from newsletter.content.revisions import RevisionNotFound, RevisionView
from newsletter.render.issue import TemplateError
from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

PAGE = "/admin/articles"
PER_PAGE = 50
EMPTY_FORM = {"title": "", "author": "", "standfirst": "", "url": "", "body_markdown": "", "image_url": "",
              "image_credit": ""}


def article_form(
    title: Annotated[str, Form()] = "",
    author: Annotated[str, Form()] = "",
    standfirst: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    body_markdown: Annotated[str, Form()] = "",
    image_url: Annotated[str, Form()] = "",
    image_credit: Annotated[str, Form()] = "",
    image_remove: Annotated[str, Form()] = "",
) -> dict[str, str]:
    """The article form's fields as posted (shown back as typed when they need correcting). The
    "Remove" box of the feature image (the page without JavaScript) empties its address and credit."""
    if image_remove:
        image_url = image_credit = ""
    return {"title": title, "author": author, "standfirst": standfirst, "url": url, "body_markdown": body_markdown,
            "image_url": image_url, "image_credit": image_credit}


ArticleForm = Annotated[dict[str, str], Depends(article_form)]


def page_url(search: str, show_hidden: bool, page: int) -> str:
    params = {"q": search} if search else {}
    if show_hidden:
        params["hidden"] = "1"
    if page > 1:
        params["page"] = str(page)
    return PAGE + (f"?{urlencode(params)}" if params else "")


def admin_articles_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    csrf = Depends(auth.require_csrf)  # see admin.py: a default, not an Annotated alias

    settings = services.settings
    zone = ZoneInfo(settings.time_zone)

    def _input(values: dict[str, str]) -> ArticleInput:
        return ArticleInput(title=values["title"], body_markdown=values["body_markdown"], author=values["author"],
                            standfirst=values["standfirst"], url=values["url"],
                            image_url=absolute_media_url(values["image_url"], settings.base_url),
                            image_credit=values["image_credit"])

    def not_found(request: Request, article_id: int) -> Response:
        return pages.error(request, 404, "No such article", f"There is no article {article_id}.")

    def when(moment: datetime) -> str:
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M:%S}"

    def listed(article_id: int) -> list[dict[str, str]]:
        return [{"url": f"{PAGE}/{article_id}/revisions/{r.id}", "when": when(r.saved_at), "by": r.saved_by,
                 "title": r.title} for r in revisions.list_revisions(services.sessions, article_id)]

    def preview_of(values: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The unsaved form as the email shows it, or what stops it."""
        try:
            return revisions.preview_html(services.sessions, settings, _input(values)), {}
        except InvalidArticle as exc:
            return "", exc.errors
        except TemplateError as exc:
            return "", {"preview": f"The template could not be rendered: {exc}"}

    def form_page(
        request: Request, values: dict[str, str], *, article_id: int | None = None, hidden: bool = False,
        errors: dict[str, str] | None = None, status_code: int = 200, preview: str = "",
        shown: RevisionView | None = None,
    ) -> Response:
        history = listed(article_id) if article_id else []
        return pages.render(request, "admin_article.html", status_code, values=values, article_id=article_id,
                            hidden=hidden, errors=errors or {}, preview=preview, revisions=history,
                            max_revisions=revisions.MAX_REVISIONS, shown=shown,
                            shown_when=when(shown.saved_at) if shown else "")

    def previewed(request: Request, values: dict[str, str], article_id: int | None = None,
                  hidden: bool = False) -> Response:
        # The "Preview" button of the page without JavaScript: nothing is saved.
        html, errors = preview_of(values)
        return form_page(request, values, article_id=article_id, hidden=hidden, errors=errors, preview=html,
                         status_code=400 if errors else 200)

    @router.get("/articles")
    def articles(
        request: Request,
        q: Annotated[str, Query(max_length=1000)] = "",
        hidden: str = "",
        page: int = 1,
    ) -> Response:
        search = " ".join(q.split())[:SEARCH_MAX]
        show_hidden = bool(hidden)
        total = count_articles(services.sessions, search, include_hidden=show_hidden)
        pages_count = max(1, -(-total // PER_PAGE))
        page = min(max(page, 1), pages_count)
        rows = list_articles(services.sessions, search, include_hidden=show_hidden, limit=PER_PAGE,
                             offset=(page - 1) * PER_PAGE)
        return pages.render(
            request,
            "admin_articles.html",
            rows=rows,
            total=total,
            search=search,
            show_hidden=show_hidden,
            page=page,
            pages=pages_count,
            first=(page - 1) * PER_PAGE + 1,
            last=(page - 1) * PER_PAGE + len(rows),
            previous_url=page_url(search, show_hidden, page - 1) if page > 1 else None,
            next_url=page_url(search, show_hidden, page + 1) if page < pages_count else None,
        )

    @router.get("/articles/new")
    def new_form(request: Request) -> Response:
        return form_page(request, dict(EMPTY_FORM))

    @router.post("/articles/new")
    def create(
        request: Request,
        values: ArticleForm,
        action: Annotated[str, Form()] = "save",
        admin: AdminSession = csrf,
    ) -> Response:
        if action == "preview":
            return previewed(request, values)
        try:
            article_id = revisions.create(services.sessions, _input(values), admin.email)
        except InvalidArticle as exc:
            return form_page(request, values, errors=exc.errors, status_code=400)
        response = RedirectResponse(f"{PAGE}/{article_id}", status_code=303)
        return pages.flash(response, "ok", "Article added: it can go into the next issue.")

    @router.post("/articles/preview")
    def preview(values: ArticleForm, _: AdminSession = csrf) -> Response:
        """For article_editor.js: the unsaved form as the email shows it, as JSON; nothing is stored.
        A half-typed draft is the normal case while writing, not a failed request: it answers 200 with
        what stops the preview in ``errors`` (a 4xx would be logged as a console error on every keystroke)."""
        html, errors = preview_of(values)
        return JSONResponse({"html": html, "errors": errors})

    @router.get("/articles/{article_id}")
    def edit_form(request: Request, article_id: int) -> Response:
        try:
            values, hidden = saved_values(article_id)
        except ArticleNotFound:
            return not_found(request, article_id)
        return form_page(request, values, article_id=article_id, hidden=hidden)

    def saved_values(article_id: int) -> tuple[dict[str, str], bool]:
        """The form's values as stored, and whether the article is hidden."""
        article = get_article(services.sessions, article_id)
        return {"title": article.title, "author": article.author, "standfirst": article.standfirst,
                "url": article.url, "body_markdown": article.body_markdown, "image_url": article.image_url,
                "image_credit": article.image_credit}, article.hidden

    @router.get("/articles/{article_id}/preview.html")
    def saved_preview(article_id: int) -> Response:
        """The saved article as the email shows it (the preview frame before anything is typed)."""
        try:
            html, errors = preview_of(saved_values(article_id)[0])
        except ArticleNotFound:
            return HTMLResponse("No such article.", status_code=404)
        if errors:
            return HTMLResponse("The preview could not be rendered: " + "; ".join(errors.values()), status_code=422)
        return HTMLResponse(html)

    @router.post("/articles/{article_id}")
    def save(
        request: Request,
        article_id: int,
        values: ArticleForm,
        action: Annotated[str, Form()] = "save",
        admin: AdminSession = csrf,
    ) -> Response:
        try:
            current = get_article(services.sessions, article_id)
            if action == "preview":
                return previewed(request, values, article_id, current.hidden)
            revisions.save(services.sessions, article_id, _input(values), admin.email)
        except ArticleNotFound:
            return not_found(request, article_id)
        except InvalidArticle as exc:
            return form_page(request, values, article_id=article_id, hidden=current.hidden, errors=exc.errors,
                             status_code=400)
        response = RedirectResponse(f"{PAGE}/{article_id}", status_code=303)
        return pages.flash(response, "ok", "Saved. Draft issues with this article show the change; sent ones stay as they were sent.")

    @router.post("/articles/{article_id}/autosave")
    def autosave(article_id: int, values: ArticleForm, admin: AdminSession = csrf) -> Response:
        """For article_editor.js, a few seconds after typing stops: save, keep a revision, answer JSON."""
        try:
            saved = revisions.save(services.sessions, article_id, _input(values), admin.email, autosave=True)
        except ArticleNotFound as exc:
            return JSONResponse({"errors": {"article": str(exc)}}, status_code=404)
        except InvalidArticle as exc:
            return JSONResponse({"errors": exc.errors}, status_code=422)
        body: dict[str, Any] = {"saved_at": when(saved.revision.saved_at), "added": saved.added, "errors": {},
                "revisions": listed(article_id)}
        return JSONResponse(body)

    @router.get("/articles/{article_id}/revisions/{revision_id}")
    def revision(request: Request, article_id: int, revision_id: int) -> Response:
        """The article page with one revision shown above the form, to read and maybe restore."""
        try:
            shown = revisions.get_revision(services.sessions, article_id, revision_id)
            values, hidden = saved_values(article_id)
        except ArticleNotFound:
            return not_found(request, article_id)
        except RevisionNotFound:
            return pages.error(request, 404, "No such revision",
                               f"Article {article_id} has no revision {revision_id} (only the newest "
                               f"{revisions.MAX_REVISIONS} are kept).")
        return form_page(request, values, article_id=article_id, hidden=hidden, shown=shown)

    @router.post("/articles/{article_id}/revisions/{revision_id}/restore")
    def restore(request: Request, article_id: int, revision_id: int, admin: AdminSession = csrf) -> Response:
        try:
            old = revisions.get_revision(services.sessions, article_id, revision_id)
            revisions.restore(services.sessions, article_id, revision_id, admin.email)
        except (ArticleNotFound, RevisionNotFound):
            return not_found(request, article_id)
        except InvalidArticle as exc:
            return pages.flash(RedirectResponse(f"{PAGE}/{article_id}", status_code=303), "error",
                               f"Not restored: {exc}.")
        text = (f"Restored the revision of {when(old.saved_at)}: it is kept as a new revision, so this "
                "can be undone the same way.")
        return pages.flash(RedirectResponse(f"{PAGE}/{article_id}", status_code=303), "ok", text)

    def hide_or_show(request: Request, article_id: int, hidden: bool) -> Response:
        try:
            set_hidden(services.sessions, article_id, hidden)
        except ArticleNotFound:
            return not_found(request, article_id)
        text = ("Hidden: it is not composed into issues nor offered in the issue editor." if hidden
                else "Shown again: it can go into issues.")
        return pages.flash(RedirectResponse(f"{PAGE}/{article_id}", status_code=303), "ok", text)

    @router.post("/articles/{article_id}/hide")
    def hide(request: Request, article_id: int, _: AdminSession = csrf) -> Response:
        return hide_or_show(request, article_id, True)

    @router.post("/articles/{article_id}/unhide")
    def unhide(request: Request, article_id: int, _: AdminSession = csrf) -> Response:
        return hide_or_show(request, article_id, False)

    return router
