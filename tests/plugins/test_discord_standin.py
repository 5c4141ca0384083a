"""The Discord stand-in keeps the rules bots rely on; checked with aiohttp and the real discord.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
import yarl

from hashcart.testing.standins.discord import DiscordStandin


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
