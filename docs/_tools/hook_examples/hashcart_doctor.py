import aiohttp

from hashcart import Host, hookimpl


@hookimpl
async def hashcart_doctor(hashcart: Host) -> list[tuple[str, bool, str]]:
    url = "https://echo.example/api/ping"
    try:
        async with (
            aiohttp.ClientSession(timeout=hashcart.http_timeout) as session,
            session.get(url) as response,
        ):
            return [("echo API answers", response.status == 200, f"{url}: {response.status}")]
    except (aiohttp.ClientError, TimeoutError) as exc:
        return [("echo API answers", False, f"{url}: {exc!r}")]
