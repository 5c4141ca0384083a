"""Sign-in through an OpenID Connect provider, configured by `HASHCART_OIDC_*`."""
