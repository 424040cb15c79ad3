"""Issue 12, finding 6: nobody can lock the owner out. Failed logins lock an account for the client
address they came from only, and the login page answers an unknown account, a wrong password and a
locked-out address with the same words and status."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient

from newsletter.accounts.users import LOCK_TIME, MAX_FAILURES, Users
from newsletter.services import Services
from newsletter.web import create_app
from tests.accounts.test_users import FAST

OWNER = ("owner@example.org", "owner password 1")
LOGIN_FAILED = "Wrong email or password, or too many attempts; try again later."
START = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)  # the clock of every test here, moved by hand

Clients = Callable[[str], TestClient]


@pytest.fixture
def app(services: Services) -> FastAPI:
    Users(services.sessions, FAST).create(*OWNER, role="owner")
    return create_app(services)


@pytest.fixture
def clients(app: FastAPI) -> Iterator[Clients]:
    """A browser at a given client address (the test client's peer address), each with its own cookies."""
    with ExitStack() as stack, time_machine.travel(START, tick=False):
        made: dict[str, TestClient] = {}

        def at(address: str) -> TestClient:
            if address not in made:
                made[address] = stack.enter_context(TestClient(app, client=(address, 50000)))
            return made[address]

        yield at


def log_in(client: TestClient, email: str, password: str, **headers: str) -> tuple[int, str]:
    response = client.post("/admin/login", data={"email": email, "password": password}, headers=headers,
                           follow_redirects=False)
    alert = re.search(r'<p class="message error" role="alert" id="login-error">([^<]*)</p>', response.text)
    return response.status_code, alert.group(1) if alert else ""


def test_eleven_bad_logins_from_eleven_addresses_do_not_lock_the_owner_out(clients: Clients) -> None:
    for n in range(MAX_FAILURES + 1):
        assert log_in(clients(f"203.0.113.{n + 1}"), OWNER[0], f"a guess {n}") == (401, LOGIN_FAILED)
    assert log_in(clients("198.51.100.7"), *OWNER) == (303, "")


def test_eleven_bad_logins_from_one_address_lock_only_that_address(clients: Clients) -> None:
    guesser = clients("203.0.113.5")
    for n in range(MAX_FAILURES):
        assert log_in(guesser, OWNER[0], f"a guess {n}") == (401, LOGIN_FAILED)
    assert log_in(guesser, *OWNER) == (401, LOGIN_FAILED)  # locked out: not even the right password
    assert log_in(clients("198.51.100.7"), *OWNER) == (303, "")  # the owner, elsewhere, is not
    with time_machine.travel(START + LOCK_TIME + timedelta(seconds=1), tick=False):
        assert log_in(guesser, *OWNER) == (303, "")  # and the lock runs out


def test_unknown_account_wrong_password_and_locked_out_answer_alike(clients: Clients) -> None:
    guesser = clients("203.0.113.5")
    unknown = log_in(guesser, "nobody@example.org", OWNER[1])
    wrong = log_in(guesser, OWNER[0], "not the password")
    for n in range(MAX_FAILURES):
        log_in(clients("203.0.113.6"), OWNER[0], f"a guess {n}")
    locked = log_in(clients("203.0.113.6"), *OWNER)
    assert unknown == wrong == locked == (401, LOGIN_FAILED)
    page = clients("203.0.113.6").get("/admin/login").text
    assert "locked" not in page.lower()


def test_the_built_in_admin_is_locked_out_per_address_too(clients: Clients) -> None:
    guesser = clients("203.0.113.5")
    for _ in range(MAX_FAILURES):
        assert log_in(guesser, "", "a wrong guess") == (401, "That password is not right.")
    assert log_in(guesser, "", "test-admin-password") == (401, LOGIN_FAILED)
    assert log_in(clients("198.51.100.7"), "", "test-admin-password") == (303, "")
