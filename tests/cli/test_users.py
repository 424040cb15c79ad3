"""`newsletter users` and `newsletter tokens` as operators run them: the real command in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from newsletter.accounts.api_tokens import ApiTokens
from newsletter.db.engine import make_engine, session_factory
from newsletter.accounts.users import Users
from tests.cli_runner import Run

PASSWORD = "a long enough password"


def users_and_tokens(tmp_path: Path) -> tuple[Users, ApiTokens]:
    """The parts over the database the command wrote (the `run` fixture's SQLite file)."""
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'var' / 'newsletter.db'}"))
    return Users(sessions), ApiTokens(sessions)


def test_users_create_reads_the_password_from_stdin(run: Run, tmp_path: Path) -> None:
    done = run("users", "create", "Ann@Example.org", "--role", "owner", "--json", stdin=PASSWORD + "\nignored\n")
    created = json.loads(done.stdout)
    assert created == {"id": created["id"], "email": "ann@example.org", "role": "owner"}
    text = run("users", "create", "bob@example.org", stdin=PASSWORD + "\n").stdout
    assert text.strip() == f"created user {created['id'] + 1}: bob@example.org (editor)"

    listed = json.loads(run("users", "list", "--json").stdout)["users"]
    assert [(u["email"], u["role"], u["last_login_at"]) for u in listed] == [
        ("ann@example.org", "owner", None), ("bob@example.org", "editor", None)]
    users, _ = users_and_tokens(tmp_path)
    assert users.authenticate("ann@example.org", PASSWORD).id == created["id"]  # only the first line counts


def test_users_create_refuses_bad_input_in_one_line(run: Run, tmp_path: Path) -> None:
    for stdin, words in (("", "no password given"), ("short\n", "at least 10 characters")):
        done = run("users", "create", "a@example.org", stdin=stdin, ok=False)
        assert done.returncode == 1 and done.stderr.startswith("error: ") and words in done.stderr, done.stderr
    run("users", "create", "a@example.org", stdin=PASSWORD)
    duplicate = run("users", "create", "A@example.org", stdin=PASSWORD, ok=False)
    assert duplicate.returncode == 1 and duplicate.stderr.strip() == "error: there is already a user a@example.org"
    users, _ = users_and_tokens(tmp_path)
    assert [u.email for u in users.list()] == ["a@example.org"]


def test_tokens_create_list_revoke(run: Run, tmp_path: Path) -> None:
    issued = json.loads(run("tokens", "create", "--name", "dashboard", "--json").stdout)
    assert set(issued) == {"id", "name", "token"} and issued["name"] == "dashboard"
    plain = run("tokens", "create", "--name", "cron")
    assert plain.stdout.startswith("nl_") and len(plain.stdout.strip().splitlines()) == 1
    assert "shown only this once" in plain.stderr
    _, tokens = users_and_tokens(tmp_path)
    assert tokens.verify(issued["token"]) is not None and tokens.verify(plain.stdout.strip()) is not None

    listed = json.loads(run("tokens", "list", "--json").stdout)["tokens"]
    assert [(t["name"], t["prefix"]) for t in listed] == [("cron", plain.stdout[:8]), ("dashboard", issued["token"][:8])]

    assert run("tokens", "revoke", str(issued["id"])).stdout.strip() == f"revoked token {issued['id']}"
    assert tokens.verify(issued["token"]) is None
    again = run("tokens", "revoke", str(issued["id"]), ok=False)
    assert again.returncode == 1 and "no live token" in again.stderr
    text = run("tokens", "list").stdout
    assert issued["token"] not in text and f"{issued['id']}  {issued['token'][:8]}…  dashboard  revoked" in text
