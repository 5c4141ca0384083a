"""OAuth 1.0a (HMAC-SHA1) `Authorization` headers for the bot's own X calls, built by oauthlib.

`oauthlib.oauth1.Client.sign` builds a full request model and renders the header twice per
call; on the reply path that was a fifth of the server's CPU. The bot only ever signs a URL
(JSON bodies take no part in the signature) with one fixed set of credentials, so this calls
oauthlib's RFC 5849 building blocks directly: the same parameters in the same order, the same
base string, the same HMAC, the same header — only the per-call work is left per call.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from oauthlib.common import generate_nonce, generate_timestamp
from oauthlib.oauth1 import Client
from oauthlib.oauth1.rfc5849 import parameters, signature


class UrlSigner:
    def __init__(
        self, consumer_key: str, consumer_secret: str, token: str, token_secret: str
    ) -> None:
        # Only its two secrets are read: the HMAC key, kept for the life of the process.
        self._key_holder = Client(
            consumer_key, client_secret=consumer_secret, resource_owner_secret=token_secret
        )
        self._fixed = [
            ("oauth_version", "1.0"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_consumer_key", consumer_key),
            ("oauth_token", token),
        ]

    def authorization(self, method: str, url: str) -> str:
        """The `Authorization` header for one request; a fresh nonce and timestamp each call."""
        oauth_params = [
            ("oauth_nonce", generate_nonce()),
            ("oauth_timestamp", generate_timestamp()),
            *self._fixed,
        ]
        query = urlsplit(url).query
        collected = signature.collect_parameters(uri_query=query) + oauth_params
        base = signature.signature_base_string(
            method.upper(),
            signature.base_string_uri(url),
            signature.normalize_parameters(collected),
        )
        digest = signature.sign_hmac_sha1_with_client(base, self._key_holder)
        headers = parameters.prepare_headers([*oauth_params, ("oauth_signature", digest)])
        return str(headers["Authorization"])
