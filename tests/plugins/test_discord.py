"""The Discord plugin end to end: the real discord.py client inside hashcart, against the stand-in.

Each test builds a small Discord world, reacts the way a person would, and checks the cart and
the bot's DMs. "Nothing else happened" is shown with a sentinel: after the events that should be
ignored, one that counts is sent, and once its effect is visible the earlier ones had their turn
(the gateway delivers in order and the plugin handles a person's reactions in order).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

import hashcart_discord
from hashcart import ConfigError
from hashcart.testing import RunningHashcart, TakesOrders, eventually, running_hashcart
from hashcart_discord.testing import DiscordStandin, Message, User

ECHO = "amazon:B00X4WHP5E"
ECHO_URL = "https://www.amazon.com/dp/B00X4WHP5E"
KINDLE = "amazon:B07FQ4DJ7X"
KINDLE_URL = "https://www.amazon.com/Kindle-Paperwhite/dp/B07FQ4DJ7X/ref=sr_1_1?th=1"
SENTINEL = "amazon:B000000000"
SENTINEL_URL = "https://www.amazon.com/dp/B000000000"


@pytest.fixture
async def discord() -> AsyncIterator[DiscordStandin]:
    async with DiscordStandin() as standin:
        yield standin


@contextlib.asynccontextmanager
async def bot(standin: DiscordStandin, **env: str) -> AsyncIterator[RunningHashcart]:
    """hashcart with the Discord plugin, connected to the stand-in's gateway."""
    settings = {**standin.env, **{f"HASHCART_DISCORD_{k.upper()}": v for k, v in env.items()}}
    # A store that takes orders: without one, checkout hands the cart off to Amazon instead.
    plugins = [hashcart_discord, TakesOrders()]
    async with running_hashcart(plugins=plugins, env=settings) as hc:
        for product_id, title in ((ECHO, "Echo Dot"), (KINDLE, "Kindle"), (SENTINEL, "Sentinel")):
            await hc.add_product(product_id, title=title, price_cents=4999)
        await standin.wait_connected()
        yield hc


async def quantities(hc: RunningHashcart, user: User) -> dict[str, int]:
    cart = await hc.cart("discord", str(user.id)) or []
    return {line["product_id"]: line["quantity"] for line in cart}


async def settled(hc: RunningHashcart) -> bool:
    """Every queued answer has left the outbox (sent or given up)."""
    return all(row["status"] != "pending" for row in await hc.outbox())


async def sentinel(discord: DiscordStandin, hc: RunningHashcart, user: User) -> None:
    """React to a fresh message and wait for its effect: everything sent before was handled."""
    channel = next(iter(discord.channels.values()))
    message = discord.post_message(channel, user, f"sentinel {SENTINEL_URL}")
    await discord.react(user, message)

    async def arrived() -> bool:
        return SENTINEL in await quantities(hc, user)

    await eventually(arrived)
    await eventually(lambda: settled(hc))


def world(discord: DiscordStandin, content: str, **message: Any) -> tuple[User, Message]:
    alice = discord.add_user("alice")
    guild = discord.add_guild("shop")
    channel = discord.add_channel(guild, "deals")
    return alice, discord.post_message(channel, alice, content, **message)


async def test_cart_reaction_adds_the_product_and_dms_once(discord: DiscordStandin) -> None:
    alice, message = world(discord, f"this one {ECHO_URL} is on sale")
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message, "🛒")

        await eventually(lambda: discord.dms_to(alice))
        assert await quantities(hc, alice) == {ECHO: 1}
        await eventually(lambda: settled(hc))
        assert len(discord.dms_to(alice)) == 1
        assert "Echo Dot" in discord.dms_to(alice)[0]
        assert discord.posts_in(message.channel) == []


async def test_add_and_remove_in_quick_succession_keep_their_order(
    discord: DiscordStandin,
) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await discord.react(alice, message, remove=True)

        await eventually(lambda: len(discord.dms_to(alice)) == 2)
        assert await quantities(hc, alice) == {}
        added, removed = discord.dms_to(alice)
        assert added.startswith("Added Echo Dot") and removed.startswith("Removed Echo Dot")


async def test_removing_the_reaction_takes_it_out_and_says_so(discord: DiscordStandin) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: len(discord.dms_to(alice)) == 1)
        await discord.react(alice, message, remove=True)

        await eventually(lambda: len(discord.dms_to(alice)) == 2)
        assert await quantities(hc, alice) == {}
        assert "Removed Echo Dot" in discord.dms_to(alice)[1]


async def test_a_custom_server_emoji_can_be_the_cart_reaction(discord: DiscordStandin) -> None:
    alice, message = world(discord, ECHO_URL)
    guild = next(iter(discord.guilds.values()))
    cart = discord.add_custom_emoji(guild, "cart")
    async with bot(discord, emoji=f"<:{cart.name}:{cart.id}>") as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message, "🛒")  # the default is not the cart reaction now
        await discord.react(alice, message, cart)

        await eventually(lambda: discord.dms_to(alice))
        assert await quantities(hc, alice) == {ECHO: 1}
        assert len(await hc.events()) == 1


async def test_other_emoji_are_ignored(discord: DiscordStandin) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        for emoji in ("👍", "🛍️", "🛒🛒"):
            await discord.react(alice, message, emoji)
        await sentinel(discord, hc, alice)

        assert await quantities(hc, alice) == {SENTINEL: 1}
        assert len(discord.dms_to(alice)) == 1


async def test_reactions_of_bots_and_of_hashcart_itself_are_ignored(
    discord: DiscordStandin,
) -> None:
    alice, message = world(discord, ECHO_URL)
    robot = discord.add_user("dealbot", bot=True)
    stranger = discord.add_user("otherbot", bot=True)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await hc.link("robot", "discord", str(robot.id))
        await discord.react(robot, message)
        await discord.react(robot, message, remove=True)
        # A removal carries no member data; a bot we never saw is looked up over REST.
        await discord.dispatch_reaction(stranger, message, remove=True)
        await discord.react(discord.bot, message)
        await sentinel(discord, hc, alice)

        assert discord.count_requests("GET", rf"^/users/{stranger.id}$") == 1
        assert await quantities(hc, robot) == {}
        assert [e for e in await hc.events() if SENTINEL not in str(e)] == []
        assert discord.dms_to(robot) == [] and discord.dms_to(discord.bot) == []


async def test_every_product_link_in_text_and_embeds_is_added(discord: DiscordStandin) -> None:
    embed = {
        "type": "rich",
        "title": "Deals of the day",
        "description": f"Reader: {KINDLE_URL}",
        "fields": [{"name": "again", "value": ECHO_URL, "inline": False}],
    }
    text = f"two deals {ECHO_URL} and https://example.com/blog"
    alice, message = world(discord, text, embeds=[embed])
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)

        await eventually(lambda: discord.dms_to(alice))
        assert await quantities(hc, alice) == {ECHO: 1, KINDLE: 1}
        await sentinel(discord, hc, alice)
        dms = discord.dms_to(alice)
        assert len(dms) == 2, "one DM listing both products, then the sentinel's"
        assert "Echo Dot" in dms[0] and "Kindle" in dms[0]


async def test_a_message_without_a_product_link_gets_one_answer(discord: DiscordStandin) -> None:
    alice, message = world(discord, "nice weather https://example.com/sun")
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: discord.dms_to(alice))
        await discord.react(alice, message, remove=True)
        await sentinel(discord, hc, alice)

        assert "not a product link" in discord.dms_to(alice)[0]
        assert len(discord.dms_to(alice)) == 2  # that answer and the sentinel's


async def test_an_unlinked_user_gets_a_link_by_dm(discord: DiscordStandin) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await discord.react(alice, message)

        await eventually(lambda: discord.dms_to(alice))
        assert f"{hc.url}/link/" in discord.dms_to(alice)[0]
        assert await hc.cart("discord", str(alice.id)) is None


async def test_closed_dms_fall_back_to_a_channel_notice_naming_no_product(
    discord: DiscordStandin,
) -> None:
    alice, message = world(discord, f"{ECHO_URL} {KINDLE_URL}")
    discord.close_dms(alice)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)

        await eventually(lambda: discord.posts_in(message.channel))
        await eventually(lambda: settled(hc))
        assert await quantities(hc, alice) == {ECHO: 1, KINDLE: 1}
        notices = discord.posts_in(message.channel)
        assert len(notices) == 1, "two answers, but one notice per person and channel"
        assert f"<@{alice.id}>" in notices[0] and "DM" in notices[0]
        assert "Echo" not in notices[0] and "Kindle" not in notices[0]
        assert discord.dms_to(alice) == []


async def test_a_dropped_gateway_resumes_and_nothing_is_lost_or_applied_twice(
    discord: DiscordStandin,
) -> None:
    alice, message = world(discord, ECHO_URL)
    kindle = discord.post_message(message.channel, alice, KINDLE_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: discord.dms_to(alice))

        # The socket dies; the next RESUME also replays two events the client had already seen.
        await discord.drop_connections(replay_overlap=2)
        await discord.react(alice, kindle)  # sent while the bot is away: kept for the resume
        await discord.wait_connected()
        await sentinel(discord, hc, alice)

        assert len(discord.identifies) == 1, "resumed, not identified again"
        assert [r["replayed"] for r in discord.resumes] == [3]  # 2 seen again + 1 missed
        assert await quantities(hc, alice) == {ECHO: 1, KINDLE: 1, SENTINEL: 1}
        assert len(await hc.events()) == 3
        assert len(discord.dms_to(alice)) == 3


async def test_rest_rate_limits_are_waited_out(discord: DiscordStandin) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        discord.fail_next("GET", r"^/channels/\d+/messages/\d+$", retry_after=0.2)
        discord.fail_next("POST", r"^/channels/\d+/messages$", retry_after=0.3, times=2)
        await discord.react(alice, message)

        await eventually(lambda: discord.dms_to(alice), timeout=10)
        await eventually(lambda: settled(hc))
        assert await quantities(hc, alice) == {ECHO: 1}
        assert len(discord.dms_to(alice)) == 1
        assert discord.count_requests("GET", r"/messages/\d+$") == 2  # the 429, then the retry
        assert discord.count_requests("POST", r"^/channels/\d+/messages$") == 3


async def test_one_fetch_per_message_however_many_react(discord: DiscordStandin) -> None:
    alice, message = world(discord, ECHO_URL)
    bob = discord.add_user("bob")
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await hc.link("bob", "discord", str(bob.id))
        await discord.react(alice, message)
        await discord.react(bob, message)

        await eventually(lambda: discord.dms_to(alice) and discord.dms_to(bob))
        assert discord.count_requests("GET", r"/messages/\d+$") == 1


async def test_shards_split_the_guilds_between_nodes(discord: DiscordStandin) -> None:
    alice = discord.add_user("alice")
    messages = []
    for shard in (0, 1):
        channel = discord.add_channel(discord.add_guild(f"g{shard}", shard=(shard, 2)))
        messages.append(discord.post_message(channel, alice, ECHO_URL))
    async with bot(discord, shards="0/2") as node0, bot(discord, shards="1/2") as node1:
        await discord.wait_connected(2)
        assert sorted(i["shard"] for i in discord.identifies) == [(0, 2), (1, 2)]
        for node in (node0, node1):
            await node.link("alice", "discord", str(alice.id))
        await discord.react(alice, messages[1])

        await eventually(lambda: discord.dms_to(alice))
        assert await quantities(node1, alice) == {ECHO: 1}
        assert await node0.events() == []


async def test_a_bad_shard_setting_stops_start_up_with_one_clear_line(
    discord: DiscordStandin,
) -> None:
    with pytest.raises(ConfigError) as failure:
        async with bot(discord, shards="2/2"):
            pass
    message = str(failure.value)
    assert "HASHCART_DISCORD_SHARDS" in message and "\n" not in message


async def test_doctor_reports_the_message_content_intent() -> None:
    for granted in (True, False):
        async with DiscordStandin(message_content=granted) as standin, bot(standin) as hc:
            checks = {
                name: ok for name, ok, _ in await hashcart_discord.hashcart_doctor(hc.hashcart)
            }
        assert checks["discord: token accepted"] is True
        assert checks["discord: message content intent"] is granted


async def test_without_the_message_content_intent_only_mentions_carry_links() -> None:
    """Discord blanks fetched guild messages for apps without the privileged intent."""
    async with DiscordStandin(message_content=False) as standin:
        alice, plain = world(standin, ECHO_URL)
        mention = standin.post_message(
            plain.channel, alice, f"<@{standin.bot.id}> {KINDLE_URL}", mentions=[standin.bot]
        )
        async with bot(standin) as hc:
            await hc.link("alice", "discord", str(alice.id))
            await standin.react(alice, plain)
            await eventually(lambda: standin.dms_to(alice))
            await standin.react(alice, mention)

            await eventually(lambda: len(standin.dms_to(alice)) == 2)
            assert "Which product?" in standin.dms_to(alice)[0]
            assert await quantities(hc, alice) == {KINDLE: 1}


async def test_cart_command_is_registered_once_and_answers_ephemerally(
    discord: DiscordStandin,
) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)
        await eventually(lambda: discord.dms_to(alice))
        assert [c["name"] for c in discord.commands] == ["cart"]
        subcommands = {o["name"] for o in discord.commands[0]["options"]}
        assert subcommands == {
            "list",
            "link",
            "unlink",
            "privacy",
            "help",
            "checkout",
            "confirm",
            "forget",
            "language",
        }

        used = await discord.use_command(alice, message.channel, "cart", "list")

        await eventually(lambda: used.answers)
        assert used.response_type == 5 and used.ephemeral  # acknowledged privately at once
        assert "Echo Dot" in used.answers[-1]
        assert len(discord.dms_to(alice)) == 1, "the answer went to the command, not to DMs"
        assert discord.command_syncs == 1


async def test_cart_command_link_privacy_and_help(discord: DiscordStandin) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        linking = await discord.use_command(alice, message.channel, "cart", "link")
        await eventually(lambda: linking.answers)
        assert f"{hc.url}/link/" in linking.answers[-1]

        await hc.link("alice", "discord", str(alice.id))
        privacy = await discord.use_command(alice, message.channel, "cart", "privacy", mode="on")
        helping = await discord.use_command(alice, message.channel, "cart", "help")
        unlinking = await discord.use_command(alice, message.channel, "cart", "unlink")

        await eventually(lambda: privacy.answers and helping.answers and unlinking.answers)
        assert "direct message" in privacy.answers[-1]
        assert "/cart" in helping.answers[-1]
        assert "no longer linked" in unlinking.answers[-1]
        assert await hc.cart("discord", str(alice.id)) is None


async def test_cart_language_words_the_answers_in_it_and_no_code_clears_it(
    discord: DiscordStandin,
) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        chosen = await discord.use_command(alice, message.channel, "cart", "language", code="de")
        await eventually(lambda: chosen.answers)
        assert "Deutsch" in chosen.answers[-1]
        helping = await discord.use_command(alice, message.channel, "cart", "help")
        await eventually(lambda: helping.answers)
        assert "Reagiere mit" in helping.answers[-1]
        cleared = await discord.use_command(alice, message.channel, "cart", "language")
        await eventually(lambda: cleared.answers)
        assert "platform's language" in cleared.answers[-1]
        assert (await hc.hashcart.accounts.find(name="alice"))[0]["language"] is None


async def test_cart_commands_are_not_registered_again_after_a_restart(
    discord: DiscordStandin, tmp_path: Any
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'hashcart.db'}"
    for _ in range(2):
        async with running_hashcart(
            plugins=[hashcart_discord], env=discord.env, database_url=database
        ):
            await discord.wait_connected()
            await eventually(lambda: discord.commands)
    assert discord.command_syncs == 1


async def test_a_pending_add_is_applied_once_the_user_links(discord: DiscordStandin) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await discord.react(alice, message)
        await eventually(lambda: discord.dms_to(alice))

        await hc.link("alice", "discord", str(alice.id))

        await eventually(lambda: len(discord.dms_to(alice)) == 2)
        assert await quantities(hc, alice) == {ECHO: 1}
        assert "Echo Dot" in discord.dms_to(alice)[1]


async def test_stopping_finishes_a_reaction_already_received(discord: DiscordStandin) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        discord.delay_next("GET", r"/messages/\d+$", 0.5)
        await discord.react(alice, message)
        await eventually(lambda: discord.count_requests("GET", r"/messages/\d+$"))

        await hc.hashcart.stop()  # while the message fetch is still under way

        events = await hc.events()
        # The first change of the reaction's state (`#1`).
        assert [e["event_key"] for e in events] == [f"discord:{message.id}:{alice.id}:🛒:add:0#1"]
        assert events[0]["outcome"] == "added"


async def test_after_an_invalid_session_the_bot_identifies_again(discord: DiscordStandin) -> None:
    alice, message = world(discord, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        discord.invalidate_sessions()
        await discord.drop_connections()
        await discord.wait_connected()
        await discord.react(alice, message)

        await eventually(lambda: discord.dms_to(alice))
        assert len(discord.identifies) == 2
        assert await quantities(hc, alice) == {ECHO: 1}


async def test_a_refused_token_turns_discord_off_and_leaves_hashcart_running(
    discord: DiscordStandin, caplog: pytest.LogCaptureFixture
) -> None:
    env = {**discord.env, "HASHCART_DISCORD_TOKEN": "not-the-token"}
    async with running_hashcart(plugins=[hashcart_discord], env=env) as hc:
        await eventually(lambda: "HASHCART_DISCORD_TOKEN" in caplog.text)
        checks = {name: ok for name, ok, _ in await hashcart_discord.hashcart_doctor(hc.hashcart)}
        assert checks["discord: token accepted"] is False
        assert discord.sessions() == [] and discord.identifies == []
        assert discord.count_requests("GET", "^/users/@me$") == 2  # the login, the doctor


async def test_the_answer_speaks_the_servers_language(discord: DiscordStandin) -> None:
    alice = discord.add_user("alice")
    channel = discord.add_channel(discord.add_guild("laden", locale="de"))
    message = discord.post_message(channel, alice, ECHO_URL)
    async with bot(discord) as hc:
        await hc.link("alice", "discord", str(alice.id))
        await discord.react(alice, message)

        await eventually(lambda: discord.dms_to(alice))
        assert "Echo Dot ist jetzt in deinem Warenkorb" in discord.dms_to(alice)[0]
