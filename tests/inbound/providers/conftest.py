"""The web app with every provider webhook on (test secrets), and an SNS fake serving our cert."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from newsletter.config import Settings
from newsletter.services import Services
from newsletter.web import create_app
from tests.inbound.providers.helpers import (
    CERT_URL, MAILGUN_KEY, POSTMARK_AUTH, TOPIC, FakeSnsHttp, rsa_key, self_signed, sendgrid_key, sendgrid_public,
)

_SNS_KEY = rsa_key()  # 2048-bit RSA takes a moment: one per test process
_SENDGRID_KEY = sendgrid_key()


@pytest.fixture
def sns_key() -> rsa.RSAPrivateKey:
    return _SNS_KEY


@pytest.fixture
def sg_key() -> ec.EllipticCurvePrivateKey:
    return _SENDGRID_KEY


@pytest.fixture
def sns_http() -> FakeSnsHttp:
    return FakeSnsHttp({CERT_URL: self_signed(_SNS_KEY)})


@pytest.fixture
def hooked(settings: Settings, mid_week_now: datetime) -> Iterator[Services]:
    """Services with every provider configured (the clock at mid-week, for timestamps and issues)."""
    services = Services.build(settings.model_copy(update={
        "ses_topic_arns": f"{TOPIC}, arn:aws:sns:eu-west-1:123456789012:Other",
        "mailgun_signing_key": MAILGUN_KEY,
        "postmark_webhook_auth": POSTMARK_AUTH,
        "sendgrid_verification_key": sendgrid_public(_SENDGRID_KEY),
    }), run_migrations=False)
    yield services
    services.close()


@pytest.fixture
def web(hooked: Services, sns_http: FakeSnsHttp) -> Iterator[TestClient]:
    with TestClient(create_app(hooked, sns_http=sns_http)) as client:
        yield client
