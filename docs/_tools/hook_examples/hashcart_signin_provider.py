from collections.abc import Mapping
from typing import Any

from hashcart import Host, ProvenIdentity, SignInProvider, hookimpl


def echo_identity(answer: Mapping[str, Any]) -> ProvenIdentity | None:
    """Read the person out of the userinfo answer; None when it names nobody."""
    user_id = answer.get("id")
    if not isinstance(user_id, str) or not user_id:
        return None
    name = answer.get("handle")
    return ProvenIdentity(user_id, name if isinstance(name, str) else None)


@hookimpl
def hashcart_signin_provider(hashcart: Host) -> SignInProvider | None:
    return SignInProvider(
        platform="echo",  # the same name as CartCommand.platform
        name="Echo",  # shown as "Link Echo account …"
        client_id="echo-client-id",  # from your settings; return None when unset
        client_secret="echo-client-secret",
        authorize_url="https://echo.example/oauth/authorize",
        token_url="https://api.echo.example/oauth/token",
        userinfo_url="https://api.echo.example/me",
        scope="profile:read",
        identity=echo_identity,
        client_auth="client_secret_post",
    )
