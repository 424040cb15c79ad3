"""Error pages under /admin keep the admin navigation for a logged-in editor; the favicon is served."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.admin.test_issues import log_in

NAV = '<a href="/admin/issues">Issues</a>'


def test_admin_404_keeps_the_navigation(client: TestClient) -> None:
    log_in(client)
    for path in ("/admin/no-such-page", "/admin/issues/999", "/admin/issues/not-a-number"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in response.text or "No such issue" in response.text
        assert NAV in response.text and "Log out" in response.text, path
        assert '<a href="/admin/issues">Back to the start</a>' in response.text


def test_admin_404_logged_out_shows_no_navigation(client: TestClient) -> None:
    response = client.get("/admin/no-such-page")
    assert response.status_code == 404
    assert NAV not in response.text and "Log out" not in response.text


def test_favicon(client: TestClient) -> None:
    for path in ("/favicon.ico", "/static/favicon.svg"):
        icon = client.get(path)
        assert icon.status_code == 200, path
        assert icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.text.startswith("<svg")
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in client.get("/subscribe").text
