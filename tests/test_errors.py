"""One error tree: every exception the package defines is a `NewsletterError` of exactly one kind,
mapped once to a CLI exit code and once to an API status; anything else is a bug (logged with its
traceback, exit 70 / 500), and a dead database never loses a message sent to subscribe@."""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import smtplib
import socket
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import newsletter
from newsletter.config import Settings
from newsletter.errors import (
    INTERNAL_ERROR_EXIT,
    KINDS,
    Conflict,
    InvalidInput,
    NewsletterError,
    NotAllowed,
    NotFound,
    Unavailable,
)
from newsletter.inbound.handler import InboundHandler, InboundUnavailable
from newsletter.inbound.smtp_server import make_controller
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.readers.subscriptions import ConfirmationNotSent
from newsletter.services import Services
from tests.cli_runner import Run


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(newsletter.__path__, "newsletter."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def test_every_exception_class_is_a_newsletter_error_of_exactly_one_kind() -> None:
    classes = _exception_classes()
    assert len(classes) > 40  # the walk found the package's errors
    for cls in classes:
        if cls is NewsletterError or cls in KINDS:
            continue
        assert issubclass(cls, NewsletterError), f"{cls.__module__}.{cls.__name__} is no NewsletterError"
        kinds = [kind for kind in KINDS if issubclass(cls, kind)]
        assert len(kinds) == 1, f"{cls.__name__} has kinds {kinds}"
        # Not a builtin error too: `except ValueError` must not catch a domain error by accident.
        assert not issubclass(cls, (ValueError, LookupError, RuntimeError)), cls


def test_a_domain_error_on_the_command_line_is_one_line_and_its_kinds_exit_code(run: Run) -> None:
    missing = run("issues", "status", "999", ok=False)
    assert missing.returncode == NotFound.exit_code == 1
    assert missing.stderr.startswith("error: ") and len(missing.stderr.splitlines()) == 1
    bad = run("subscribers", "add", "not an address", ok=False)
    assert (bad.returncode, len(bad.stderr.splitlines())) == (InvalidInput.exit_code, 1)
    assert "Traceback" not in missing.stderr + bad.stderr


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom: a bug")


def test_an_unexpected_exception_on_the_command_line_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from newsletter.cli.main import main

    monkeypatch.setenv("NEWSLETTER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NEWSLETTER_BACKEND", "outbox")
    monkeypatch.setattr(Services, "build", _boom)
    monkeypatch.setattr(sys, "argv", ["newsletter", "issues", "list"])
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == INTERNAL_ERROR_EXIT != 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("internal error") and "RuntimeError: boom: a bug" in line
    [record] = [r for r in caplog.records if r.name == "newsletter.cli"]
    assert record.exc_info is not None and "Traceback" in caplog.text and "_boom" in caplog.text


def test_without_logging_configured_the_traceback_goes_to_the_data_dirs_error_log(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(__import__("os"), "fork") or __import__("os").environ.get("NEWSLETTER_TEST_CLI_SUBPROCESS") == "1":
        pytest.skip("the fault is patched into the forked command")
    monkeypatch.setattr(Services, "build", _boom)  # the forked child inherits the patch
    done = run("issues", "list", ok=False)
    assert done.returncode == INTERNAL_ERROR_EXIT
    [line] = done.stderr.splitlines()
    log_file = tmp_path / "var" / "errors.log"
    assert line.startswith("internal error") and str(log_file) in line
    assert "Traceback" in log_file.read_text() and "RuntimeError: boom: a bug" in log_file.read_text()


@pytest.fixture
def api(client: TestClient, services: Services) -> TestClient:
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
    return client


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("there is no such thing"), 404),
        (Conflict("it is sent"), 409),
        (InvalidInput("not like that"), 422),
        (Unavailable("the database is down"), 503),
        (ConfirmationNotSent("the mail server refused"), 502),
        (NotAllowed("not yours"), 403),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_the_api_answers_each_kind_with_its_status(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, error: NewsletterError, status: int
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("newsletter.web.api.subscribers.search_subscribers", fail)
    answer = api.get("/api/v1/subscribers")
    assert answer.status_code == status == error.http_status
    body = answer.json()
    assert body["status"] == status and body["error"].endswith(".")
    assert answer.headers["cache-control"] == "no-store"


def test_the_api_answers_a_bug_with_500_and_logs_its_traceback(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("newsletter.web.api.subscribers.search_subscribers", _boom)
    with caplog.at_level(logging.ERROR):
        answer = api.get("/api/v1/subscribers")
    assert answer.status_code == 500
    assert answer.json() == {"error": "Internal error: something broke on our side; it has been logged.",
                             "status": 500}
    assert "boom: a bug" not in answer.text  # a bug's details are for the log, not the caller
    assert any(r.exc_info for r in caplog.records) and "RuntimeError: boom: a bug" in caplog.text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SUBSCRIBE = b"From: Ana <ana@example.net>\r\nTo: subscribe@example.org\r\nSubject: subscribe\r\n\r\nplease\r\n"


def test_subscribe_mail_with_the_database_down_is_deferred_and_not_lost(settings: Settings) -> None:
    dead = Services.build(settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/none"}),
                          run_migrations=False)
    controller = make_controller(InboundHandler(dead), "127.0.0.1", _free_port())
    controller.start()
    try:
        with pytest.raises(InboundUnavailable):  # no longer swallowed as "not subscribed"
            InboundHandler(dead).handle("ana@example.net", ["subscribe@example.org"], SUBSCRIBE)
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=30) as smtp:
            with pytest.raises(smtplib.SMTPDataError) as deferred:
                smtp.sendmail("ana@example.net", ["subscribe@example.org"], SUBSCRIBE)
        assert deferred.value.smtp_code == 451  # the sending MTA keeps the message and retries
    finally:
        controller.stop()
        dead.close()

    # The retry, once the database is back, subscribes the reader: nothing was lost.
    live = Services.build(settings)
    controller = make_controller(InboundHandler(live), "127.0.0.1", _free_port())
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=30) as smtp:
            assert smtp.sendmail("ana@example.net", ["subscribe@example.org"], SUBSCRIBE) == {}
        with live.sessions() as session:
            reader = session.scalar(select(Subscriber).where(Subscriber.email == "ana@example.net"))
        assert reader is not None and reader.status is SubscriberStatus.PENDING
        assert [m.recipient for m in live.backend.sent] == ["ana@example.net"]  # type: ignore[attr-defined]
    finally:
        controller.stop()
        live.close()
