"""The bot's OAuth 1.0a header is the one oauthlib's full client would send, byte for byte."""

from __future__ import annotations

import pytest
from oauthlib.oauth1 import Client
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header

from hashcart_twitter import oauth1
from hashcart_twitter.oauth1 import UrlSigner
from hashcart_twitter.testing import XStandin
from hashcart_twitter.testing.records import NONCES_KEPT, _Validator

CREDENTIALS = ("consumer key", "consumer/secret&1", "123-access token", "token secret+é")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "https://api.x.com/2/tweets"),
        ("GET", "https://api.x.com/2/tweets/42?tweet.fields=author_id%2Centities&expansions=a%20b"),
        ("POST", "http://127.0.0.1:8123/2/dm_conversations/with/99/messages"),
    ],
)
def test_the_header_equals_oauthlib_clients(
    method: str, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oauth1, "generate_nonce", lambda: "fixednonce123")
    monkeypatch.setattr(oauth1, "generate_timestamp", lambda: "1700000000")
    key, secret, token, token_secret = CREDENTIALS
    reference = Client(
        key,
        client_secret=secret,
        resource_owner_key=token,
        resource_owner_secret=token_secret,
        nonce="fixednonce123",
        timestamp="1700000000",
    )
    _, expected, _ = reference.sign(url, http_method=method)

    assert UrlSigner(*CREDENTIALS).authorization(method, url) == expected["Authorization"]


def test_every_header_has_a_fresh_nonce() -> None:
    signer = UrlSigner(*CREDENTIALS)
    headers = [signer.authorization("POST", "https://api.x.com/2/tweets") for _ in range(3)]

    nonces = {dict(parse_authorization_header(h))["oauth_nonce"] for h in headers}
    assert len(nonces) == 3


def test_the_x_standin_prunes_its_nonces_once_per_doubling() -> None:
    """Past NONCES_KEPT signed calls in 15 minutes, a fixed threshold re-read every nonce on every
    call (17 ms each): the stand-in fell behind nine minutes into a 100/s bench (issue 17)."""
    validator = _Validator(XStandin())
    prunes = 0
    for n in range(NONCES_KEPT + 5_000):
        store = validator._nonces
        assert validator.validate_timestamp_and_nonce("key", "1700000000", f"nonce-{n}", None)
        prunes += validator._nonces is not store

    assert prunes <= 1
    assert not validator.validate_timestamp_and_nonce("key", "1700000000", "nonce-3", None)
