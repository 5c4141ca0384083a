from hashcart import hookimpl

SHORT_LINKS = {"https://sho.p/x1": "https://shop.example/items/ABC123"}


@hookimpl
def hashcart_resolve_redirect(url: str) -> str | None:
    # A real implementation follows the redirect over HTTP, with a timeout and a cache.
    return SHORT_LINKS.get(url)
