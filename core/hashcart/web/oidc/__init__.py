"""Sign-in through an OpenID Connect provider, configured by `HASHCART_OIDC_*`.

The authorization-code flow with PKCE. What the callback must check against (state, nonce, PKCE
verifier, where to go next) rides in a short-lived signed HttpOnly cookie scoped to the callback,
signed with the session secret: the server keeps no table of flows, any node can finish a flow
another started, and a callback that did not start in this browser has nothing to match.
The ID token is checked with authlib's OpenID claims rules over joserfc (the JOSE library authlib
itself builds on): signature against the provider's JWKS, `iss`, `aud`, `exp`, `iat`, `nonce`,
`at_hash`. Every failure ends on a plain page and signs nobody in.
"""

from hashcart.web.oidc.flow import OIDC_KEY, add_routes, button_name
from hashcart.web.oidc.provider import OidcSettings

__all__ = ["OIDC_KEY", "OidcSettings", "add_routes", "button_name"]
