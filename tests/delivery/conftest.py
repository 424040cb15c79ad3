"""The delivery tests' drafted issue: one article, composed, ready to queue."""

from __future__ import annotations

import pytest

from newsletter.issues.compose import compose
from newsletter.services import Services
from tests.factories import add_article


@pytest.fixture
def issue_id(services: Services) -> int:
    add_article(services.sessions, "Is the Kursk operation still worth the cost?")
    return compose(services.sessions, services.settings).issue_id
