"""`newsletter users` and `newsletter tokens`: editor accounts and API tokens from the command line."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.accounts.roles import UserRole
from newsletter.cli.common import JsonFlag, emit, services_of

if TYPE_CHECKING:  # domain modules are imported inside the commands, so `newsletter --help` starts fast
    from newsletter.accounts.users import UserInfo

users_app = typer.Typer(help="Editor accounts that log in to the admin.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for the JSON API.", no_args_is_help=True)


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _user(info: UserInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "email": info.email,
        "role": info.role.value,
        "created_at": _when(info.created_at),
        "last_login_at": _when(info.last_login_at),
        "locked_until": _when(info.locked_until),
    }


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def read_password() -> str:
    """The first line of standard input (so scripts can pipe it); a terminal gets a hidden prompt."""
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("create")
def create_user(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The editor's email address (their login).")],
    role: Annotated[UserRole, typer.Option("--role", help="owner: also users and API tokens; editor: the rest.")] = (
        UserRole.EDITOR
    ),
    as_json: JsonFlag = False,
) -> None:
    """Add a user; the password is read from the first line of standard input."""
    from newsletter.accounts.users import Users, check_password

    password = read_password()
    if not password:
        raise _fail("no password given: pipe it on standard input, e.g. `printf '%s\\n' \"$PW\" | newsletter ...`")
    check_password(password)  # before opening the database: a short password is refused at once
    with services_of(ctx) as services:
        users = Users(services.sessions)
        user_id = users.create(email, password, role)
        info = users.get(user_id)
    assert info is not None
    emit(as_json, {"id": info.id, "email": info.email, "role": info.role.value},
         f"created user {info.id}: {info.email} ({info.role.value})")


@users_app.command("list")
def list_users(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every user with their role and last login."""
    with services_of(ctx) as services:
        from newsletter.accounts.users import Users

        rows = Users(services.sessions).list()
    lines = [
        f"{u.id}  {u.email}  {u.role.value}  last login {u.last_login_at:%Y-%m-%d %H:%M UTC}" if u.last_login_at
        else f"{u.id}  {u.email}  {u.role.value}  never logged in"
        for u in rows
    ]
    emit(as_json, {"users": [_user(u) for u in rows]}, "\n".join(lines) or "no users yet (only the built-in admin)")


@tokens_app.command("create")
def create_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="What will use the token, e.g. 'dashboard'.")],
    as_json: JsonFlag = False,
) -> None:
    """Create an API token and print it; it is shown only this once."""
    with services_of(ctx) as services:
        issued = services.api_tokens.create(name)
    if as_json:
        emit(True, {"id": issued.id, "name": issued.name, "token": issued.token}, "")
        return
    typer.echo(issued.token)
    typer.echo(f"token {issued.id} ({issued.name}): copy it now, it is shown only this once", err=True)


@tokens_app.command("list")
def list_tokens(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every token: id, name, first characters, created, last used, revoked."""
    with services_of(ctx) as services:
        rows = services.api_tokens.list()
    data = [
        {"id": t.id, "name": t.name, "prefix": t.prefix, "created_at": _when(t.created_at),
         "last_used_at": _when(t.last_used_at), "revoked_at": _when(t.revoked_at)}
        for t in rows
    ]
    lines = [
        f"{t.id}  {t.prefix}…  {t.name}  "
        + (f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else
           f"last used {t.last_used_at:%Y-%m-%d %H:%M UTC}" if t.last_used_at else "never used")
        for t in rows
    ]
    emit(as_json, {"tokens": data}, "\n".join(lines) or "no API tokens yet")


@tokens_app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="The token's id (see `tokens list`).")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke a token: calls with it are refused (401) from now on."""
    with services_of(ctx) as services:
        revoked = services.api_tokens.revoke(token_id)
    if not revoked:
        raise _fail(f"there is no live token {token_id} (unknown or already revoked)")
    emit(as_json, {"id": token_id, "revoked": True}, f"revoked token {token_id}")
