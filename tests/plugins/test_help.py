"""Help on every platform names every command that platform has, and nothing it lacks.

Each test asks for help the way a person on that platform does, through the real plugin and its
stand-in, and checks the answer against what the platform really registers or parses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import hashcart_mastodon
import hashcart_slack
import hashcart_twitter
from hashcart.testing import eventually, running_hashcart
from hashcart_discord.testing import DiscordStandin
from hashcart_mastodon.testing import MastodonStandin
from hashcart_slack import parse
from hashcart_slack.testing import SlackStandin, direct_message_event
from hashcart_twitter.testing import XStandin, tweet, user
from tests.plugins.test_discord import bot, world

#: What `/cart` parses on Slack: `add`, `remove` and `privacy` take arguments, the rest none.
SLACK_SUBCOMMANDS = sorted({"add", "remove", "privacy", *parse._SIMPLE_ACTIONS})


async def test_slack_help_names_every_cart_subcommand_and_the_other_ways() -> None:
    async with SlackStandin() as slack:
        env = {
            "HASHCART_SLACK_SIGNING_SECRET": slack.signing_secret,
            "HASHCART_SLACK_BOT_TOKEN": slack.bot_token,
            "HASHCART_SLACK_API_URL": slack.api_url,
        }
        async with running_hashcart(plugins=[hashcart_slack], env=env) as hc:
            await hc.link("alice", "slack", "T0001:U0ALICE")
            delivery = await slack.slash_command(f"{hc.url}/slack/events", "help")
            (answer,) = await eventually(lambda: slack.responses_to(delivery.response_url))

            assert {"checkout", "confirm", "forget"} <= set(SLACK_SUBCOMMANDS)
            for name in SLACK_SUBCOMMANDS:
                assert f"/cart {name}" in answer.text, name
            assert "#amazoncart" in answer.text and ":shopping_trolley:" in answer.text

            # Asked in a direct message, the same help comes back in that conversation.
            await slack.send_event(f"{hc.url}/slack/events", direct_message_event("help"))
            (posted,) = await eventually(lambda: slack.calls_to("chat.postMessage"))
            assert posted.params["text"] == answer.text


async def test_slack_help_names_the_command_as_configured() -> None:
    async with SlackStandin() as slack:
        env = {
            "HASHCART_SLACK_SIGNING_SECRET": slack.signing_secret,
            "HASHCART_SLACK_BOT_TOKEN": slack.bot_token,
            "HASHCART_SLACK_API_URL": slack.api_url,
            "HASHCART_SLACK_COMMAND": "/shop",
        }
        async with running_hashcart(plugins=[hashcart_slack], env=env) as hc:
            delivery = await slack.slash_command(f"{hc.url}/slack/events", "help", command="/shop")
            (answer,) = await eventually(lambda: slack.responses_to(delivery.response_url))
            assert "/shop checkout" in answer.text and "/cart" not in answer.text


async def test_discord_help_names_every_registered_subcommand_and_the_reaction() -> None:
    async with DiscordStandin() as discord:
        alice, message = world(discord, "hi")
        async with bot(discord):
            await eventually(lambda: discord.commands)
            [cart] = discord.commands
            registered = sorted(option["name"] for option in cart["options"])
            used = await discord.use_command(alice, message.channel, "cart", "help")
            await eventually(lambda: used.answers)
            answer = used.answers[-1]

    assert {"checkout", "confirm", "forget"} <= set(registered)
    for name in registered:
        assert f"/cart {name}" in answer, name
    assert "🛒" in answer
    for missing in ("add", "remove", "clear"):  # Discord adds and removes by reaction
        assert f"/cart {missing}" not in answer


@pytest.fixture
async def x() -> AsyncIterator[XStandin]:
    async with XStandin() as standin:
        yield standin


async def test_x_help_names_every_verb(x: XStandin) -> None:
    env = {**x.env(), "HASHCART_TWITTER_BOT_SCREEN_NAME": "hashcart"}
    async with running_hashcart(plugins=[hashcart_twitter], env=env) as hc:
        alice = user("alice", "6253282")
        await hc.link("alice", "twitter", alice["id_str"])
        asking = tweet("#amazoncart help", user=alice)
        assert (await x.deliver(f"{hc.url}/twitter/webhook", [asking])).status == 200
        (answer,) = await eventually(lambda: x.replies_to(asking) or x.dms_to(alice))

    verbs = ("#amazoncart privacy on|off", "#amazoncart language", "#amazoncart forget")
    for verb in (*verbs, "#amazoncart help"):
        assert verb in answer.text, verb
    assert "@hashcart #checkout" in answer.text and "@hashcart #confirm" in answer.text
    assert "/cart" not in answer.text


async def test_mastodon_help_names_the_hashtag_and_no_slash_commands() -> None:
    async with (
        MastodonStandin(heartbeat_seconds=0.5) as mastodon,
        running_hashcart(plugins=[hashcart_mastodon], env=mastodon.env()) as hc,
    ):
        platform = hc.hashcart.platforms["mastodon"]
        assert isinstance(platform, hashcart_mastodon.MastodonPlatform)
        await eventually(platform.listener.connected.is_set)
        alice = mastodon.add_account("alice")
        await hc.link("alice", "mastodon", alice.id)
        asking = mastodon.post(alice, "@hashcart #amazoncart help")
        [answer] = await eventually(lambda: mastodon.replies_to(asking))

    assert "#amazoncart help" in answer.text
    assert "/cart" not in answer.text
