"""Owner-only pages: editor accounts (add, change role, delete) and API tokens (create, list, revoke)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from newsletter.readers.addresses import InvalidAddress
from newsletter.accounts.api_tokens import ApiTokens, InvalidTokenName
from newsletter.accounts.models import UserRole
from newsletter.accounts.users import DuplicateUser, LastOwner, UserError, UserNotFound, WeakPassword
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

ROLES = [role.value for role in UserRole]


def admin_users_router(tokens: ApiTokens, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require_owner)])
    # A default rather than an Annotated alias: FastAPI resolves annotation strings in module globals.
    csrf = Depends(auth.require_csrf)
    users = auth.users

    def back(path: str, kind: str, text: str) -> Response:
        return pages.flash(RedirectResponse(path, status_code=303), kind, text)

    def users_page(request: Request, status: int = 200, **form: object) -> Response:
        values: dict[str, object] = {"email": "", "role": UserRole.EDITOR.value, "errors": {}, **form}
        return pages.render(request, "admin_users.html", status, users=users.list(), roles=ROLES, form=values)

    @router.get("/users")
    def list_users(request: Request) -> Response:
        return users_page(request)

    @router.post("/users")
    def add_user(
        request: Request,
        email: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        role: Annotated[str, Form()] = UserRole.EDITOR.value,
        _: AdminSession = csrf,
    ) -> Response:
        errors: dict[str, str] = {}
        try:
            if not email.strip():
                raise InvalidAddress("enter the new editor's email address")
            users.create(email, password, role)
        except (InvalidAddress, DuplicateUser) as exc:
            errors["email"] = str(exc).capitalize() + "."
        except WeakPassword as exc:
            errors["password"] = str(exc).capitalize() + "."
        except UserError as exc:
            errors["role"] = str(exc).capitalize() + "."
        if errors:
            return users_page(request, 400, email=email, role=role, errors=errors)
        return back("/admin/users", "ok", f"Added {email.strip()} as {role}.")

    @router.post("/users/{user_id}/role")
    def change_role(user_id: int, role: Annotated[str, Form()] = "", _: AdminSession = csrf) -> Response:
        try:
            users.set_role(user_id, role)
        except (UserError, LastOwner, UserNotFound) as exc:
            return back("/admin/users", "error", f"Role not changed: {exc}.")
        return back("/admin/users", "ok", f"Role changed to {role}.")

    @router.post("/users/{user_id}/delete")
    def delete_user(user_id: int, _: AdminSession = csrf) -> Response:
        user = users.get(user_id)
        try:
            users.delete(user_id)
        except (UserError, LastOwner, UserNotFound) as exc:
            return back("/admin/users", "error", f"Not deleted: {exc}.")
        return back("/admin/users", "ok", f"Deleted {user.email if user else 'the user'}; their sessions ended.")

    def tokens_page(request: Request, status: int = 200, **extra: object) -> Response:
        values: dict[str, object] = {"name": "", "error": "", "issued": None, **extra}
        return pages.render(request, "admin_tokens.html", status, tokens=tokens.list(), **values)

    @router.get("/tokens")
    def list_tokens(request: Request) -> Response:
        return tokens_page(request)

    @router.post("/tokens")
    def create_token(request: Request, name: Annotated[str, Form()] = "", session: AdminSession = csrf) -> Response:
        try:
            issued = tokens.create(name, created_by=session.user_id or None)
        except InvalidTokenName as exc:
            return tokens_page(request, 400, name=name, error=str(exc).capitalize() + ".")
        # Shown on this response only (never in a redirect, cookie or log): it cannot be shown again.
        return tokens_page(request, 201, issued=issued)

    @router.post("/tokens/{token_id}/revoke")
    def revoke_token(token_id: int, _: AdminSession = csrf) -> Response:
        if not tokens.revoke(token_id):
            return back("/admin/tokens", "error", f"Token {token_id} is unknown or already revoked.")
        return back("/admin/tokens", "ok", f"Token {token_id} revoked: it no longer works.")

    return router
