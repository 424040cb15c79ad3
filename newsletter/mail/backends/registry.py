"""Find a delivery backend by name in the ``newsletter.mail.backends`` entry-point group and build it."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING, cast

from newsletter.errors import InvalidInput

if TYPE_CHECKING:
    from newsletter.mail.backends.base import Backend, BackendFactory
    from newsletter.config import Settings

ENTRY_POINT_GROUP = "newsletter.backends"  # a contract: plug-ins register under this name


class UnknownBackend(InvalidInput):
    """NEWSLETTER_BACKEND names no installed backend; the message lists the installed ones."""


def available_backends() -> list[str]:
    """The backend names installed packages register, sorted."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def load_backend(settings: Settings) -> Backend:
    """Construct the backend ``settings.backend`` names; an unknown name is UnknownBackend."""
    name = settings.backend
    found = entry_points(group=ENTRY_POINT_GROUP).select(name=name)
    if not found:
        names = ", ".join(available_backends()) or "(none installed)"
        raise UnknownBackend(f"unknown delivery backend {name!r}; available backends: {names}")
    # Entry points from several distributions may share a name; the first one found wins.
    factory = cast("BackendFactory", next(iter(found)).load())
    return factory(settings)
