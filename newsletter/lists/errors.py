"""The lists domain's errors, each under one kind of `newsletter.errors`."""

from __future__ import annotations

from newsletter.errors import Conflict, InvalidInput, NotFound


class UnknownList(NotFound):
    """No list has this slug (or id). The message is the one line the CLI prints."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"unknown list: {slug}")
        self.slug = slug


class InvalidList(InvalidInput):
    """A list's name, slug or From address is not valid; ``field`` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class SlugTaken(Conflict):
    """Another list already has this slug."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"the slug {slug} is taken by another list; choose another with --slug")
        self.slug = slug
