"""Unsubscribe tokens: the send path's fast signer gives exactly the links old mail carries."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st
from itsdangerous import URLSafeSerializer

from newsletter.mail.tokens import InvalidToken, Tokens


@given(st.one_of(st.integers(min_value=0, max_value=2**63 - 1),
                 st.sampled_from([0, 1, 10**10 - 1, 10**10, 1111111111, 11111111111111])))
def test_the_fast_token_is_the_one_itsdangerous_makes_and_reads(subscriber_id: int) -> None:
    tokens = Tokens("a secret")
    token = tokens.unsubscribe_token(subscriber_id)
    # Links in mail sent before the fast path (made by dumps) and after it are the same link.
    assert token == URLSafeSerializer("a secret", salt="unsubscribe").dumps(subscriber_id)
    assert tokens.read_unsubscribe(token) == subscriber_id


def test_another_secret_cannot_read_it() -> None:
    with pytest.raises(InvalidToken):
        Tokens("another").read_unsubscribe(Tokens("a secret").unsubscribe_token(7))
