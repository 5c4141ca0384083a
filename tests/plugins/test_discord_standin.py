"""The Discord stand-in keeps the rules bots rely on; checked with aiohttp and the real discord.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
import yarl

from hashcart_discord.testing import DiscordStandin


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandin]:
    async with DiscordStandin() as running:
        yield running


async def test_rest_speaks_bare_json_and_wants_the_bot_token(standin: DiscordStandin) -> None:
    auth = {"Authorization": f"Bot {standin.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{standin.api_url}/users/@me", headers=auth) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert (await response.json())["id"] == str(standin.bot.id)
            assert "X-RateLimit-Reset-After" in response.headers
        async with http.get(f"{standin.api_url}/users/@me") as response:
            assert response.status == 401


async def test_rate_limits_carry_what_discord_py_needs_to_wait(standin: DiscordStandin) -> None:
    standin.fail_next("GET", "^/users/@me$", retry_after=1.5)
    auth = {"Authorization": f"Bot {standin.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{standin.api_url}/users/@me", headers=auth) as response:
            body = await response.json()
            assert response.status == 429 and response.headers["Via"]
            assert response.headers["Retry-After"] == "2"
            assert body == {
                "message": "You are being rate limited.",
                "retry_after": 1.5,
                "global": False,
            }
        async with http.get(f"{standin.api_url}/users/@me", headers=auth) as response:
            assert response.status == 200  # only the next one


async def test_the_message_content_gate_and_enforced_nonces() -> None:
    async with DiscordStandin(message_content=False) as standin:
        alice = standin.add_user("alice")
        channel = standin.add_channel(standin.add_guild())
        plain = standin.post_message(channel, alice, "secret https://example.com")
        mention = standin.post_message(channel, alice, "hi bot", mentions=[standin.bot])
        auth = {"Authorization": f"Bot {standin.token}"}
        base = f"{standin.api_url}/channels/{channel.id}/messages"
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.get(f"{base}/{plain.id}") as response:
                assert (await response.json())["content"] == ""
            async with http.get(f"{base}/{mention.id}") as response:
                assert (await response.json())["content"] == "hi bot"
            body = {"content": "once", "nonce": "n1", "enforce_nonce": True}
            for _ in range(2):
                async with http.post(base, json=body) as response:
                    assert response.status == 200
        assert standin.posts_in(channel) == ["once"]


async def test_discord_py_is_refused_privileged_intents_it_was_not_granted(
    standin: DiscordStandin,
) -> None:
    discord.http.Route.BASE = standin.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)
    client = discord.Client(intents=discord.Intents.default() | discord.Intents(members=True))
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await asyncio.wait_for(client.start(standin.token), timeout=10)
    await client.close()
    assert standin.identifies and standin.sessions() == []


async def test_discord_py_resumes_and_gets_what_it_missed(standin: DiscordStandin) -> None:
    alice = standin.add_user("alice")
    message = standin.post_message(standin.add_channel(standin.add_guild()), alice, "hello")
    discord.http.Route.BASE = standin.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)
    seen: asyncio.Queue[str] = asyncio.Queue()

    class Client(discord.Client):
        async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
            await seen.put(str(payload.emoji))

    client = Client(intents=discord.Intents.none() | discord.Intents(guild_reactions=True))
    running = asyncio.create_task(client.start(standin.token))
    try:
        await standin.wait_connected()
        await standin.react(alice, message, "🛒")
        assert await asyncio.wait_for(seen.get(), 5) == "🛒"
        await standin.drop_connections()
        await standin.react(alice, message, "🎁")  # while the client is away
        assert await asyncio.wait_for(seen.get(), 10) == "🎁"
        assert [r["replayed"] for r in standin.resumes] == [1]
        assert len(standin.identifies) == 1
    finally:
        await client.close()
        await running


async def test_reaction_users_come_in_pages_by_id_and_bad_queries_are_refused(
    standin: DiscordStandin,
) -> None:
    guild = standin.add_guild()
    channel = standin.add_channel(guild)
    cart = standin.add_custom_emoji(guild, "cart")
    users = [standin.add_user(f"u{index}") for index in range(130)]
    message = standin.post_message(channel, users[0], "deal")
    for user in reversed(users):
        await standin.react(user, message, "🛒")
    await standin.react(users[5], message, cart)
    base = f"{standin.api_url}/channels/{channel.id}/messages/{message.id}/reactions"
    auth = {"Authorization": f"Bot {standin.token}"}
    async with aiohttp.ClientSession(headers=auth) as http:

        async def get(path: str, **query: str) -> tuple[int, object]:
            async with http.get(f"{base}/{path}", params=query) as response:
                return response.status, await response.json()

        status, first = await get("%F0%9F%9B%92", limit="100")
        assert status == 200 and isinstance(first, list) and len(first) == 100
        ids = [int(user["id"]) for user in first]
        assert ids == sorted(ids) == [user.id for user in users[:100]]
        status, rest = await get("%F0%9F%9B%92", limit="100", after=str(ids[-1]))
        assert isinstance(rest, list) and [int(u["id"]) for u in rest] == [
            user.id for user in users[100:]
        ]
        _, default = await get("%F0%9F%9B%92")
        assert isinstance(default, list) and len(default) == 25
        _, custom = await get(f"cart%3A{cart.id}")
        assert custom == [users[5].to_json()]
        _, burst = await get("%F0%9F%9B%92", type="1")
        assert burst == []
        assert (await get("%F0%9F%9B%92", limit="101"))[0] == 400
        assert (await get("%F0%9F%9B%92", limit="0"))[0] == 400
        assert (await get("%F0%9F%9B%92", after="x"))[0] == 400
        assert await get("cart%3A1") == (400, {"message": "Unknown Emoji", "code": 10014})
        assert (await get("cart"))[0] == 400


async def test_a_reaction_bucket_answers_with_its_headers_then_429(
    standin: DiscordStandin,
) -> None:
    channel = standin.add_channel(standin.add_guild())
    message = standin.post_message(channel, standin.add_user("alice"), "deal")
    standin.rate_limit("GET", r"/reactions/", limit=2, per=5.0)
    url = f"{standin.api_url}/channels/{channel.id}/messages/{message.id}/reactions/%F0%9F%9B%92"
    auth = {"Authorization": f"Bot {standin.token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        remaining = []
        for _ in range(2):
            async with http.get(url) as response:
                assert response.status == 200
                remaining.append(response.headers["X-RateLimit-Remaining"])
                assert response.headers["X-RateLimit-Limit"] == "2"
                assert 0 < float(response.headers["X-RateLimit-Reset-After"]) <= 5.0
        assert remaining == ["1", "0"]
        async with http.get(url) as response:
            body = await response.json()
            assert response.status == 429 and response.headers["Via"]
            assert 1 <= int(response.headers["Retry-After"]) <= 5
            assert response.headers["X-RateLimit-Remaining"] == "0"
            assert response.headers["X-RateLimit-Bucket"]
            assert body["global"] is False and 0 < body["retry_after"] <= 5.0
    assert standin.rate_limited == 1


async def test_a_new_session_after_a_crash_is_sent_nothing_it_missed(
    standin: DiscordStandin,
) -> None:
    """Only a RESUME replays: a process that died and IDENTIFYs afresh hears nothing of the
    events dispatched while it was gone."""
    alice = standin.add_user("alice")
    message = standin.post_message(standin.add_channel(standin.add_guild()), alice, "hello")
    discord.http.Route.BASE = standin.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)
    seen: asyncio.Queue[str] = asyncio.Queue()

    class Client(discord.Client):
        async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
            await seen.put(str(payload.emoji))

    first = Client(intents=discord.Intents.none() | discord.Intents(guild_reactions=True))
    running = asyncio.create_task(first.start(standin.token))
    await standin.wait_connected()
    running.cancel()  # the process dies: nothing of it runs on, its socket goes uncleanly
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await running
    assert await standin.drop_connections() == 1
    await first.close()
    assert standin.sessions(connected=False), "the dead session stays resumable"
    await standin.react(alice, message, "🛒")  # nobody is there to hear it

    second = Client(intents=discord.Intents.none() | discord.Intents(guild_reactions=True))
    running = asyncio.create_task(second.start(standin.token))
    try:
        await standin.wait_connected()
        await standin.react(alice, message, "🎁")
        assert await asyncio.wait_for(seen.get(), 5) == "🎁", "the 🛒 was not replayed"
        assert len(standin.identifies) == 2 and standin.resumes == []
    finally:
        await second.close()
        await running
