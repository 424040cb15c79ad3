"""The editor's article pages: the list (search by title or author, show hidden, pages of 50),
a new article in Markdown, editing one, and hiding or showing it again."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from newsletter.content.articles import (
    SEARCH_MAX,
    ArticleInput,
    ArticleNotFound,
    InvalidArticle,
    count_articles,
    create_article,
    get_article,
    list_articles,
    set_hidden,
    update_article,
)
from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

PAGE = "/admin/articles"
PER_PAGE = 50
EMPTY_FORM = {"title": "", "author": "", "standfirst": "", "url": "", "body_markdown": ""}


def article_form(
    title: Annotated[str, Form()] = "",
    author: Annotated[str, Form()] = "",
    standfirst: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "",
    body_markdown: Annotated[str, Form()] = "",
) -> dict[str, str]:
    """The article form's fields as posted (shown back as typed when they need correcting)."""
    return {"title": title, "author": author, "standfirst": standfirst, "url": url, "body_markdown": body_markdown}


ArticleForm = Annotated[dict[str, str], Depends(article_form)]


def _input(values: dict[str, str]) -> ArticleInput:
    return ArticleInput(title=values["title"], body_markdown=values["body_markdown"], author=values["author"],
                        standfirst=values["standfirst"], url=values["url"])


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

    def not_found(request: Request, article_id: int) -> Response:
        return pages.error(request, 404, "No such article", f"There is no article {article_id}.")

    def form_page(
        request: Request, values: dict[str, str], *, article_id: int | None = None, hidden: bool = False,
        errors: dict[str, str] | None = None, status_code: int = 200,
    ) -> Response:
        return pages.render(request, "admin_article.html", status_code, values=values, article_id=article_id,
                            hidden=hidden, errors=errors or {})

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
        _: AdminSession = csrf,
    ) -> Response:
        try:
            article_id = create_article(services.sessions, _input(values))
        except InvalidArticle as exc:
            return form_page(request, values, errors=exc.errors, status_code=400)
        response = RedirectResponse(f"{PAGE}/{article_id}", status_code=303)
        return pages.flash(response, "ok", "Article added: it can go into the next issue.")

    @router.get("/articles/{article_id}")
    def edit_form(request: Request, article_id: int) -> Response:
        try:
            article = get_article(services.sessions, article_id)
        except ArticleNotFound:
            return not_found(request, article_id)
        values = {"title": article.title, "author": article.author, "standfirst": article.standfirst,
                  "url": article.url, "body_markdown": article.body_markdown}
        return form_page(request, values, article_id=article_id, hidden=article.hidden)

    @router.post("/articles/{article_id}")
    def save(
        request: Request,
        article_id: int,
        values: ArticleForm,
        _: AdminSession = csrf,
    ) -> Response:
        try:
            current = get_article(services.sessions, article_id)
            update_article(services.sessions, article_id, _input(values))
        except ArticleNotFound:
            return not_found(request, article_id)
        except InvalidArticle as exc:
            return form_page(request, values, article_id=article_id, hidden=current.hidden, errors=exc.errors,
                             status_code=400)
        response = RedirectResponse(f"{PAGE}/{article_id}", status_code=303)
        return pages.flash(response, "ok", "Saved. Draft issues with this article show the change; sent ones stay as they were sent.")

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
