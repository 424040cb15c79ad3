"""An account's role: its own module, free of SQLAlchemy, so the CLI can offer it as choices
without importing the ORM (`newsletter --help` starts fast). `accounts.models` re-exports it."""

from __future__ import annotations

import enum


class UserRole(str, enum.Enum):
    OWNER = "owner"  # everything, including users and API tokens
    EDITOR = "editor"  # the newsletter's pages, not the accounts
