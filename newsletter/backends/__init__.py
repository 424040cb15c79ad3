"""Delivery backends behind one Protocol, found by name in the ``newsletter.backends`` entry points."""

from newsletter.backends.base import (
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
