"""Delivery backends behind one Protocol, found by name in the ``newsletter.mail.backends`` entry points."""

from newsletter.mail.backends.base import (
    Backend,
    BackendError,
    BackendFactory,
    OutgoingMessage,
    SendResult,
    SendStatus,
    classify,
)

__all__ = [
    "Backend",
    "BackendError",
    "BackendFactory",
    "OutgoingMessage",
    "SendResult",
    "SendStatus",
    "classify",
]
