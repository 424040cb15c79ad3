"""The admin dashboard: readers per week, each issue's outcome and, for a tracked issue, its
opens and clicks per hour and its top links; each chart as an SVG picture, a table and a CSV."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from newsletter.issues.dashboard import engagement, issue_outcomes, reader_weeks, tracked_issues
from newsletter.issues.publishing import IssueNotFound
from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth
from newsletter.web.admin.dashboard_charts import (
    Chart,
    engagement_chart,
    issues_chart,
    links_chart,
    readers_chart,
)
from newsletter.web.pages import Pages

PAGE = "/admin/dashboard"


def admin_dashboard_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    sessions = services.sessions

    def chosen(issue: int | None) -> int | None:
        """The tracked issue to show: the one asked for, else the latest; IssueNotFound if it is
        not a tracked issue that went out."""
        tracked = tracked_issues(sessions)
        if issue is None:
            return tracked[0].issue_id if tracked else None
        if issue not in {t.issue_id for t in tracked}:
            raise IssueNotFound(f"there is no tracked issue {issue} among the last {len(tracked)} sent")
        return issue

    def builders(issue: int | None) -> dict[str, Callable[[], Chart]]:
        # Each chart queries only when it is built: one CSV costs its own query, not the page's.
        def tracked() -> Chart:
            picked = chosen(issue)
            return engagement_chart(engagement(sessions, picked, with_links=False) if picked is not None else None)

        def links() -> Chart:
            picked = chosen(issue)
            return links_chart(engagement(sessions, picked, hours=0) if picked is not None else None)

        return {
            "readers": lambda: readers_chart(reader_weeks(sessions)),
            "issues": lambda: issues_chart(issue_outcomes(sessions)),
            "engagement": tracked,
            "links": links,
        }

    def missing(request: Request, name: str) -> Response:
        return pages.error(request, 404, "No such chart", f"There is no chart called {name!r}.")

    def suffix(issue: int | None) -> str:
        return f"?issue={issue}" if issue is not None else ""

    @router.get("/dashboard")
    def dashboard(request: Request, issue: int | None = None) -> Response:
        picked = chosen(issue)  # IssueNotFound: the error pages' 404, mapped once
        found = engagement(sessions, picked) if picked is not None else None
        charts = [readers_chart(reader_weeks(sessions)), issues_chart(issue_outcomes(sessions))]
        if found is not None:
            charts += [engagement_chart(found), links_chart(found)]
        return pages.render(
            request, "admin_dashboard.html", charts=charts, tracked=tracked_issues(sessions),
            picked=picked, engagement=found, query=suffix(issue),
        )

    @router.get("/dashboard/{name}.svg")
    def chart_svg(request: Request, name: str, issue: int | None = None) -> Response:
        build = builders(issue).get(name)
        if build is None:
            return missing(request, name)
        # Drawn per request from live figures: no cache, so a reload shows the latest send.
        return Response(build().draw(), media_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})

    @router.get("/dashboard/{name}.csv")
    def chart_csv(request: Request, name: str, issue: int | None = None) -> Response:
        build = builders(issue).get(name)
        if build is None:
            return missing(request, name)
        chart = build()
        return Response(chart.csv(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{chart.name}{issue or ""}.csv"'})

    return router
