"""The issue's security proofs through the real app: accounts, lock-out, CSRF, roles, sessions, API tokens."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from newsletter.config import Settings
from newsletter.accounts.models import LoginFailure
from newsletter.db.base import utcnow
from newsletter.services import Services
from newsletter.accounts.users import MAX_FAILURES, Users
from newsletter.web import create_app
from tests.accounts.test_users import FAST
from tests.web.admin.test_issues import csrf, log_in

OWNER = ("owner@example.org", "owner password 1")
EDITOR = ("editor@example.org", "editor password 1")
XSS = "<script>alert(1)</script>"


def add_user(services: Services, who: tuple[str, str], role: str) -> int:
    # Cheap argon2 parameters keep the tests quick; the app verifies with the parameters in the hash.
    return Users(services.sessions, FAST).create(who[0], who[1], role)


def user_log_in(client: TestClient, who: tuple[str, str], next_path: str = "/admin/issues") -> None:
    response = client.post(
        "/admin/login", data={"email": who[0], "password": who[1], "next": next_path}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == next_path


def logged_in(client: TestClient) -> bool:
    return client.get("/admin/issues", follow_redirects=False).status_code == 200


def test_the_login_form_has_labelled_email_and_password(client: TestClient) -> None:
    page = client.get("/admin/login").text
    assert re.search(r'<label for="email">Email\b', page) and 'id="email" name="email"' in page
    assert '<label for="password">Password</label>' in page and ">Log in</button>" in page


def test_a_user_logs_in_with_email_and_password(client: TestClient, services: Services) -> None:
    add_user(services, OWNER, "owner")
    user_log_in(client, (OWNER[0].upper(), OWNER[1]))  # the address as typed, in any case
    assert logged_in(client)
    assert 'href="/admin/users"' in client.get("/admin/issues").text  # owners see their pages


def test_the_built_in_admin_still_logs_in_by_password(client: TestClient) -> None:
    log_in(client)  # only `password`, as the other pages' tests post it
    assert logged_in(client)
    client.cookies.clear()
    response = client.post("/admin/login", data={"email": "admin", "password": "test-admin-password"},
                           follow_redirects=False)
    assert response.status_code == 303 and logged_in(client)


def test_a_wrong_password_is_refused_with_the_email_kept(client: TestClient, services: Services) -> None:
    add_user(services, EDITOR, "editor")
    response = client.post("/admin/login", data={"email": EDITOR[0], "password": "not my password"})
    assert response.status_code == 401
    assert "Wrong email or password, or too many attempts; try again later." in response.text
    assert f'value="{EDITOR[0]}"' in response.text
    assert not logged_in(client)


def test_eleven_wrong_passwords_lock_the_account_until_the_lock_runs_out(
    client: TestClient, services: Services
) -> None:
    add_user(services, EDITOR, "editor")
    for n in range(MAX_FAILURES):
        wrong = client.post("/admin/login", data={"email": EDITOR[0], "password": f"guess number {n}"})
        assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    # The 11th attempt from this address, with the right password, is refused in the same words
    # (tests/web/test_login_lockout.py: other addresses are not locked out).
    locked = client.post("/admin/login", data={"email": EDITOR[0], "password": EDITOR[1]}, follow_redirects=False)
    assert locked.status_code == 401 and "Wrong email or password, or too many attempts" in locked.text
    assert not logged_in(client)
    # Fifteen minutes later (moved in the database): the right password works again.
    with services.sessions.begin() as session:
        session.execute(update(LoginFailure).values(locked_until=utcnow() - timedelta(seconds=1)))
    user_log_in(client, EDITOR)
    assert logged_in(client)


def test_one_address_guessing_many_accounts_is_slowed_down(client: TestClient, services: Services) -> None:
    add_user(services, OWNER, "owner")
    for _ in range(20):
        assert client.post("/admin/login", data={"password": "a wrong guess"}).status_code == 401
    for data in ({"email": "someone@example.org", "password": "guess"}, {"email": OWNER[0], "password": OWNER[1]},
                 {"password": "test-admin-password"}):
        refused = client.post("/admin/login", data=data, follow_redirects=False)
        assert refused.status_code == 429
        assert re.search(r"Too many failed logins from your network\. Try again in [1-5] minutes?\.", refused.text)
    assert not logged_in(client)


def test_admin_urls_without_a_session(client: TestClient) -> None:
    for path in ("/admin/users", "/admin/tokens"):
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/admin/login?next=" + path.replace("/", "%2F")
        form = client.post(path, data={"csrf_token": "x", "name": "n", "email": "a@example.org"},
                           follow_redirects=False)
        assert form.status_code == 401 and "Your session has ended" in form.text


@pytest.mark.parametrize(
    "path",
    ["/admin/logout", "/admin/issues/compose", "/admin/users", "/admin/users/1/role", "/admin/users/1/delete",
     "/admin/tokens", "/admin/tokens/1/revoke"],
)
def test_forms_without_the_csrf_token_are_refused(client: TestClient, services: Services, path: str) -> None:
    add_user(services, OWNER, "owner")
    issued = services.api_tokens.create("kept")
    log_in(client)
    data = {"email": "new@example.org", "password": "long enough password", "role": "editor", "name": "t"}
    for token in (None, "forged"):
        sent = data if token is None else {**data, "csrf_token": token}
        response = client.post(path, data=sent, follow_redirects=False)
        assert response.status_code == 403
        assert "missing its security token" in response.text
    # Nothing changed: still logged in, no user added or removed, the token still works.
    assert logged_in(client)
    assert [u.email for u in Users(services.sessions).list()] == [OWNER[0]]
    assert services.api_tokens.verify(issued.token) is not None


def test_an_editor_gets_403_on_owner_pages(client: TestClient, services: Services) -> None:
    add_user(services, OWNER, "owner")
    add_user(services, EDITOR, "editor")
    user_log_in(client, EDITOR)
    issues = client.get("/admin/issues")
    assert issues.status_code == 200 and 'href="/admin/users"' not in issues.text
    token = csrf(client)
    for method, path in (("GET", "/admin/users"), ("GET", "/admin/tokens"), ("POST", "/admin/tokens"),
                         ("POST", "/admin/users")):
        data = {"csrf_token": token, "name": "mine", "email": "x@example.org", "password": "long enough pw"}
        response = client.request(method, path, data=data if method == "POST" else None, follow_redirects=False)
        assert response.status_code == 403, path
        assert "Only an owner can manage users and API tokens." in response.text
    assert services.api_tokens.list() == [] and len(Users(services.sessions).list()) == 2


def test_owner_adds_changes_and_deletes_users(client: TestClient, services: Services) -> None:
    owner_id = add_user(services, OWNER, "owner")
    user_log_in(client, OWNER, "/admin/users")
    token = csrf(client, "/admin/users")
    bad = client.post("/admin/users", data={"csrf_token": token, "email": "nobody", "password": "short"})
    assert bad.status_code == 400
    assert re.search(r'id="new-email-error">An email address must have an @-sign', bad.text)
    short = client.post("/admin/users", data={"csrf_token": token, "email": "ed@example.org", "password": "short"})
    assert 'id="new-password-error">The password must be at least 10 characters long.' in short.text
    added = client.post("/admin/users", data={"csrf_token": token, "email": "Ed@Example.org",
                                               "password": "ed's password!", "role": "editor"})
    assert added.status_code == 200 and "Added Ed@Example.org as editor." in added.text
    assert "ed@example.org" in added.text
    dup = client.post("/admin/users", data={"csrf_token": token, "email": "ed@example.org",
                                             "password": "ed's password!"})
    assert dup.status_code == 400 and "There is already a user ed@example.org." in dup.text
    # The last owner can be neither demoted nor deleted; the page says so.
    demoted = client.post(f"/admin/users/{owner_id}/role", data={"csrf_token": token, "role": "editor"})
    assert "Role not changed: owner@example.org is the last owner" in demoted.text
    deleted = client.post(f"/admin/users/{owner_id}/delete", data={"csrf_token": token})
    assert "Not deleted: owner@example.org is the last owner and cannot be deleted." in deleted.text
    [ed] = [u for u in Users(services.sessions).list() if u.email == "ed@example.org"]
    client.post(f"/admin/users/{ed.id}/role", data={"csrf_token": token, "role": "owner"})
    assert Users(services.sessions).get(ed.id).role == "owner"  # type: ignore[union-attr]
    gone = client.post(f"/admin/users/{ed.id}/delete", data={"csrf_token": token})
    assert "Deleted ed@example.org" in gone.text and Users(services.sessions).get(ed.id) is None


def test_sessions_end_on_logout_deletion_password_change_and_role_change(
    client: TestClient, services: Services
) -> None:
    users = Users(services.sessions, FAST)
    add_user(services, OWNER, "owner")
    editor_id = add_user(services, EDITOR, "editor")
    # Logging out ends the session server-side: a copy of the cookie no longer works.
    user_log_in(client, EDITOR)
    copied = dict(client.cookies)
    client.post("/admin/logout", data={"csrf_token": csrf(client)})
    assert not logged_in(client)
    client.cookies.update(copied)
    assert not logged_in(client)
    client.cookies.clear()
    # A role change applies to the open session at once.
    user_log_in(client, EDITOR)
    assert client.get("/admin/users", follow_redirects=False).status_code == 403
    users.set_role(editor_id, "owner")
    assert client.get("/admin/users", follow_redirects=False).status_code == 200
    # A new password ends the open sessions.
    users.set_password(editor_id, "another password")
    assert not logged_in(client)
    # So does deleting the user.
    user_log_in(client, (EDITOR[0], "another password"))
    assert logged_in(client)
    users.delete(editor_id)
    assert not logged_in(client)


def test_tokens_page_shows_a_new_token_once_and_revokes(client: TestClient, services: Services) -> None:
    log_in(client, "/admin/tokens")
    token = csrf(client, "/admin/tokens")
    empty = client.post("/admin/tokens", data={"csrf_token": token, "name": "  "})
    assert empty.status_code == 400 and 'id="token-name-error">Give the token a name' in empty.text
    created = client.post("/admin/tokens", data={"csrf_token": token, "name": XSS})
    assert created.status_code == 201
    raw = re.search(r'<code class="token" id="new-token">(nl_[\w-]+)</code>', created.text)
    assert raw and "shown only this once" in created.text
    assert XSS not in created.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in created.text
    listing = client.get("/admin/tokens").text
    assert raw.group(1) not in listing and raw.group(1)[:8] + "…" in listing and "last used never" in listing
    [info] = services.api_tokens.list()
    revoked = client.post(f"/admin/tokens/{info.id}/revoke", data={"csrf_token": token})
    assert f"Token {info.id} revoked" in revoked.text and "Revoked 20" in revoked.text
    assert services.api_tokens.verify(raw.group(1)) is None


def test_an_api_call_with_a_revoked_token_is_401(client: TestClient, services: Services) -> None:
    issued = services.api_tokens.create("script")
    bearer = {"Authorization": f"Bearer {issued.token}"}
    # A live token gets past authentication (no issue 999: 404).
    assert client.get("/api/v1/issues/999/status", headers=bearer).status_code == 404
    services.api_tokens.revoke(issued.id)
    for headers in (bearer, {}, {"Authorization": "Bearer nl_made-up"}, {"Authorization": "Basic eDp5"}):
        response = client.get("/api/v1/issues/999/status", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        body = response.json()
        assert body["status"] == 401 and body["error"]


def test_user_text_is_escaped(client: TestClient, services: Services) -> None:
    log_in(client, "/admin/users")
    token = csrf(client, "/admin/users")
    page = client.post("/admin/users", data={"csrf_token": token, "email": XSS, "password": XSS + XSS})
    assert page.status_code == 400 and XSS not in page.text and "&lt;script&gt;" in page.text
    login = client.post("/admin/login", data={"email": XSS, "password": "whatever"})
    assert XSS not in login.text and "&lt;script&gt;" in login.text


def test_the_cookie_is_secure_on_https(settings: Settings) -> None:
    services = Services.build(settings.model_copy(update={"base_url": "https://news.example.org"}))
    try:
        add_user(services, OWNER, "owner")
        with TestClient(create_app(services), base_url="https://testserver") as client:
            response = client.post("/admin/login", data={"email": OWNER[0], "password": OWNER[1]},
                                   follow_redirects=False)
            cookie = response.headers["set-cookie"].lower()
            assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    finally:
        services.close()
