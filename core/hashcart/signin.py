"""What a platform plugin declares so people can link its identities by signing in there.

A link token must never travel in public: whoever reads it first could link the asker's identity
to their own cart. Where a platform offers no private channel, the answer points to
`/link/{platform}` instead, and the person proves who they are by signing in with the platform
(OAuth 2.0 authorization code with PKCE). The core runs that flow once for every platform; the
plugin only says where the platform's endpoints are and how to read the person out of its answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import SecretStr

#: How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
ClientAuth = Literal["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True, slots=True)
class ProvenIdentity:
    """The person a platform vouched for: its user id (as the plugin keys identities by) and
    the handle shown on the link page."""

    user_id: str
    user_name: str | None = None

    @classmethod
    def read(
        cls, user_id: object, user_name: object, *, digits: bool = False
    ) -> ProvenIdentity | None:
        """From a platform's untrusted JSON: nobody unless the id is a non-empty string (of
        digits only, where the platform's ids are numbers); a name that is no text is dropped."""
        if not isinstance(user_id, str) or not user_id or (digits and not user_id.isdigit()):
            return None
        return cls(user_id, user_name if isinstance(user_name, str) and user_name else None)


@dataclass(frozen=True, slots=True)
class SignInProvider:
    """ "Sign in with PLATFORM", as `hashcart_signin_provider` returns it.

    `identity` reads the answer of `userinfo_url` (JSON, fetched with the access token as a
    Bearer token) and returns the person, or None when the answer names nobody usable; it must
    not raise. `authorize_params` are added to the authorization request as they are.
    """

    platform: str
    name: str
    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    userinfo_url: str
    scope: str
    identity: Callable[[Mapping[str, Any]], ProvenIdentity | None]
    client_auth: ClientAuth = "client_secret_basic"
    authorize_params: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def configured(
        cls, client_id: str | None, client_secret: SecretStr | None, **declared: Any
    ) -> SignInProvider | None:
        """The provider once a plugin's settings hold its app's client id and secret, else None."""
        if not client_id or client_secret is None:
            return None
        return cls(client_id=client_id, client_secret=client_secret.get_secret_value(), **declared)
