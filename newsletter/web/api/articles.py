"""API routes for articles: list and search, read (with the body's typed blocks), write in Markdown
with a feature image, edit, hide."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from newsletter.content.articles import (
    ArticleInput,
    ArticleView,
    absolute_media_url,
    count_articles,
    create_article,
    get_article,
    list_articles,
    set_hidden,
    update_article,
)
from newsletter.services import Services
from newsletter.web.api.article_schemas import ArticleCreate, ArticleList, ArticleOut, ArticlePatch
from newsletter.web.api.schemas import ApiError, ArticleId, Limit, Offset

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ApiError, "description": "No article has this id"}}
Search = Annotated[str, Query(max_length=200, description="matches the title or the author, any case")]


def article_out(article: ArticleView) -> ArticleOut:
    return ArticleOut.model_validate(asdict(article))


def articles_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/articles", tags=["articles"])
    sessions = services.sessions

    def article_input(values: dict[str, Any]) -> ArticleInput:
        image_url = absolute_media_url(values.pop("image_url", ""), services.settings.base_url)
        return ArticleInput(**values, image_url=image_url)

    @router.get("", response_model=ArticleList, summary="List articles, newest first")
    def list_all(q: Search = "", include_hidden: bool = True, limit: Limit = 50, offset: Offset = 0) -> ArticleList:
        q = q.replace("\x00", "")  # PostgreSQL refuses NUL; no title contains one
        items = list_articles(sessions, q, include_hidden, limit, offset)
        return ArticleList(items=[article_out(a) for a in items], total=count_articles(sessions, q, include_hidden))

    @router.post("", response_model=ArticleOut, status_code=201, summary="Write an article in Markdown")
    def create(body: ArticleCreate, request: Request, response: Response) -> ArticleOut:
        article_id = create_article(sessions, article_input(body.model_dump()))
        response.headers["Location"] = f"{request.scope.get('root_path', '')}/articles/{article_id}"
        return article_out(get_article(sessions, article_id))

    @router.get("/{article_id}", response_model=ArticleOut, responses=NOT_FOUND, summary="One article")
    def read(article_id: ArticleId) -> ArticleOut:
        return article_out(get_article(sessions, article_id))

    @router.patch("/{article_id}", response_model=ArticleOut, responses=NOT_FOUND,
                  summary="Edit an article, or hide it from new issues")
    def edit(article_id: ArticleId, body: ArticlePatch) -> ArticleOut:
        current = get_article(sessions, article_id)
        changes = body.model_dump(exclude_none=True, exclude={"hidden"})
        if changes:
            merged = {
                "title": current.title, "body_markdown": current.body_markdown, "author": current.author,
                "standfirst": current.standfirst, "url": current.url, "image_url": current.image_url,
                "image_credit": current.image_credit, **changes,
            }
            update_article(sessions, article_id, article_input(merged))
        if body.hidden is not None:
            set_hidden(sessions, article_id, body.hidden)
        return article_out(get_article(sessions, article_id))

    return router
