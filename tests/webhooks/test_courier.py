"""The worker's webhook thread delivers what is due without being asked, and stops with its block."""

from __future__ import annotations

import time

from newsletter.config import Settings
from newsletter.services import Services
from newsletter.webhooks.courier import Courier
from newsletter.webhooks.endpoints import create_endpoint
from tests.webhooks.receiver import receiver

WAIT = 30.0  # a bound on waiting for the thread, never a timing assertion


def test_the_courier_delivers_due_messages_in_the_background(services: Services, settings: Settings) -> None:
    with receiver() as endpoint:
        create_endpoint(services.sessions, endpoint.url, "subscribed", allow_private=True)
        services.subscriptions.subscribe("ann@example.net")
        with Courier(settings.model_copy(update={"webhooks_allow_private": True}), poll_seconds=0.05):
            deadline = time.monotonic() + WAIT
            while not endpoint.requests and time.monotonic() < deadline:
                time.sleep(0.02)
        assert len(endpoint.requests) == 1
        services.subscriptions.subscribe("bob@example.net")  # after the block: nobody delivers it
    assert len(endpoint.requests) == 1
