"""A change of address asked for with a reader's link (a forwarded issue has it): the decision goes by
email only, the old address hears of a completed move and can undo it, and the mails are capped."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.readers.test_preferences import sent_to
from newsletter.mail.tokens import InvalidToken
from newsletter.readers.preferences import MAX_EMAIL_CHANGES, InvalidPreference, Preferences
from newsletter.services import Services

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def prefs(services: Services) -> Preferences:
    return Preferences(services.sessions, services.settings, services.backend, services.links, services.suppression)


def reader(services: Services, address: str) -> int:
    subscriber, _ = services.subscriptions.add(address)
    return subscriber.id


def link(text: str, path: str) -> str:
    match = re.search(rf"http://newsletter\.test/{path}/(\S+)", text)
    assert match, text
    return match.group(1)


@pytest.mark.parametrize("new", ["taken@example.org", "suppressed@example.org"])
def test_an_unusable_address_is_not_refused_but_the_old_address_is_told(
    services: Services, prefs: Preferences, new: str
) -> None:
    ana = reader(services, "ana@example.org")
    reader(services, "taken@example.org")
    with services.sessions.begin() as session:
        services.suppression.add(session, ["suppressed@example.org"], "bounced")

    view = prefs.request_email_change(ana, new)

    assert view.email == "ana@example.org" and view.pending_email == new  # as for a free address
    assert sent_to(services, new) == []  # the list's reader (or a suppressed address) is not mailed
    [told] = sent_to(services, "ana@example.org")
    flat = " ".join(told.split())
    assert f"to move your subscription to {new}" in flat and "Nothing has changed" in flat
    assert "/confirm/" not in told
    with pytest.raises(InvalidToken):  # and nothing could complete the move later either
        prefs.confirm_email_change(ana, new)


def test_a_free_address_gets_the_link_and_the_old_one_nothing_yet(services: Services, prefs: Preferences) -> None:
    ana = reader(services, "ana@example.org")
    prefs.request_email_change(ana, "ana.new@example.org")
    [text] = sent_to(services, "ana.new@example.org")
    assert text.startswith("Hello,")
    assert link(text, "preferences/confirm")
    assert sent_to(services, "ana@example.org") == []


def test_a_completed_move_mails_the_old_address_a_link_that_moves_it_back(
    services: Services, prefs: Preferences
) -> None:
    ana = reader(services, "ana@example.org")
    prefs.request_email_change(ana, "mallory@example.net")
    [confirmation] = sent_to(services, "mallory@example.net")
    prefs.confirm_email_change(*services.tokens.read_confirm(link(confirmation, "preferences/confirm")))
    assert prefs.get(ana).email == "mallory@example.net"

    [notice] = sent_to(services, "ana@example.org")
    flat = " ".join(notice.split())
    assert "has moved from ana@example.org to mallory@example.net" in flat
    undo = services.tokens.read_undo(link(notice, "preferences/undo"))
    assert prefs.undo_email_change(*undo).email == "ana@example.org"
    assert prefs.get(ana).email == "ana@example.org"
    assert prefs.undo_email_change(*undo).email == "ana@example.org"  # followed twice: no error


def test_an_undo_link_does_not_reach_past_a_later_change(services: Services, prefs: Preferences) -> None:
    ana = reader(services, "ana@example.org")
    prefs.request_email_change(ana, "second@example.org")
    prefs.confirm_email_change(ana, "second@example.org")
    [notice] = sent_to(services, "ana@example.org")
    prefs.request_email_change(ana, "third@example.org")
    prefs.confirm_email_change(ana, "third@example.org")
    with pytest.raises(InvalidToken, match="changed again"):
        prefs.undo_email_change(*services.tokens.read_undo(link(notice, "preferences/undo")))
    assert prefs.get(ana).email == "third@example.org"


def test_an_undo_link_cannot_be_forged(services: Services) -> None:
    token = services.tokens.undo_token(1, "ana@example.org", "x@example.org")
    with pytest.raises(InvalidToken):
        services.tokens.read_undo(token[:-3] + "abc")
    with pytest.raises(InvalidToken):  # a confirmation token is no undo token
        services.tokens.read_undo(services.tokens.confirm_token(1, "ana@example.org"))


def test_change_mails_are_counted_whatever_the_address_and_start_again_next_day(
    services: Services, prefs: Preferences
) -> None:
    ana = reader(services, "ana@example.org")
    reader(services, "taken@example.org")
    for n, new in enumerate(["free@example.org", "taken@example.org", "other@example.org"][:MAX_EMAIL_CHANGES]):
        prefs.ask_email_change(ana, new, now=T0 + timedelta(hours=n))
    with pytest.raises(InvalidPreference, match="try again tomorrow"):
        prefs.ask_email_change(ana, "fourth@example.org", now=T0 + timedelta(hours=23))
    assert prefs.ask_email_change(ana, "fourth@example.org", now=T0 + timedelta(days=1)).usable
