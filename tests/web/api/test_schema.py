"""Schemathesis against /api/v1/openapi.json of the real app: generated requests (valid and invalid)
to every operation with a valid token must never get a 5xx, and every answer must be what the
schema promises (status code, content type, body).

SQLite only (one run is enough to prove the schema and the handlers agree), a little seeded
data, and few examples per operation so the whole module stays well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.issues.compose import compose
from newsletter.db.engine import make_engine, migrate
from newsletter.issues.editor import create_issue
from newsletter.readers.models import SubscriberStatus
from newsletter.services import Services
from newsletter.web import create_app
from tests.clock import mid_week
from tests.factories import add_article, add_subscribers

if TYPE_CHECKING:
    from schemathesis.generation import GenerationMode

EXAMPLES = 10  # per operation and mode: about 500 requests in all


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only here (overrides conftest's two-database parametrisation)."""
    url = f"sqlite:///{tmp_path / 'newsletter.db.engine'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url


@pytest.fixture
def seeded(services: Services) -> Services:
    """Ids 1 and 2 exist for every kind, so generated small ids sometimes hit something real."""
    now = mid_week()  # Wednesday noon: hours before it are in its week too, whatever the day
    for n in range(3):
        add_article(services.sessions, f"Seeded piece {n}", now - timedelta(hours=n))
    add_subscribers(services.sessions, 2)
    add_subscribers(services.sessions, 1, status=SubscriberStatus.PENDING, prefix="pending")
    sent = compose(services.sessions, services.settings, now=now).issue_id
    services.publisher.queue(sent, force=True)
    create_issue(services.sessions, services.settings, "A seeded draft", [1, 2])
    return services


# Ids that exist after seeding: each operation is also tried with these, not only random ones.
SEEDED_IDS = {"issue_id": (1, 2), "article_id": (1, 3), "subscriber_id": (1, 3)}


def strategies(operation: Any, mode: GenerationMode) -> Any:
    named = [name for name in SEEDED_IDS if "{" + name + "}" in operation.path]
    fixed = [operation.as_strategy(generation_mode=mode, path_parameters={name: value})
             for name in named for value in SEEDED_IDS[name]]
    return st.one_of(operation.as_strategy(generation_mode=mode), *fixed)


@pytest.fixture
def token(seeded: Services) -> str:
    return seeded.api_tokens.create("schemathesis").token


def test_api_conforms_to_its_schema(seeded: Services, token: str) -> None:
    # Imported here, not at collection: schemathesis takes ~1 s to import in every test process
    # (its pytest plugin is off, pyproject addopts; this test calls it directly).
    import schemathesis
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    # Each operation in turn, with a strategy per generation mode, rather than
    # schemathesis.pytest.from_fixture: that loader touches a pytest internal pytest 9 removed.
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(seeded))
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 22, "the schema lost its operations"
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=strategies(operation, mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=checks)

            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:  # collect them all: one report names every operation
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
