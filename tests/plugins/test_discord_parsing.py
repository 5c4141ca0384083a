"""The Discord plugin's pure parts: its settings, the emoji it listens for, where links hide."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hashcart import Action, ProductRef, StateChange
from hashcart_discord.links import message_links
from hashcart_discord.reactions import Reaction, parse_state_key, reaction_commands
from hashcart_discord.settings import DiscordSettings, EmojiSpec, ShardPlan

CUSTOM_ID = 123456789012345678


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("🛒", EmojiSpec("🛒")),
        ("🛒\ufe0f", EmojiSpec("🛒")),
        (f"cart:{CUSTOM_ID}", EmojiSpec("cart", CUSTOM_ID)),
        (f"<:cart:{CUSTOM_ID}>", EmojiSpec("cart", CUSTOM_ID)),
        (f"<a:cart:{CUSTOM_ID}>", EmojiSpec("cart", CUSTOM_ID)),
        (f"amazon:{CUSTOM_ID}", EmojiSpec("amazon", CUSTOM_ID)),
    ],
)
def test_emoji_setting_forms(value: str, expected: EmojiSpec) -> None:
    assert EmojiSpec.parse(value) == expected


@pytest.mark.parametrize("value", ["", "cart", ":cart:", "<:cart:12>", "a:b", "<:cart>"])
def test_emoji_settings_that_are_not_emoji(value: str) -> None:
    with pytest.raises(ValueError):
        EmojiSpec.parse(value)


def test_custom_emoji_match_by_id_and_unicode_by_character() -> None:
    custom = EmojiSpec("cart", CUSTOM_ID)
    assert custom.matches("renamed", CUSTOM_ID)
    assert not custom.matches("cart", CUSTOM_ID + 1)
    assert not custom.matches("cart", None)
    trolley = EmojiSpec("🛒")
    assert trolley.matches("🛒\ufe0f", None)
    assert not trolley.matches("🛒", CUSTOM_ID)
    assert (custom.key, trolley.key) == (str(CUSTOM_ID), "🛒")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        ("0/1", ShardPlan((0,), 1)),
        ("0,1/4", ShardPlan((0, 1), 4)),
        (" 3 , 1 / 4 ", ShardPlan((1, 3), 4)),
    ],
)
def test_shard_plans(value: str, expected: ShardPlan | None) -> None:
    assert ShardPlan.parse(value) == expected


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("4", "like '0,1/4'"),
        ("0,1", "like '0,1/4'"),
        ("/4", "like '0,1/4'"),
        ("0/0", "at least 1"),
        ("4/4", "shard 4 does not exist"),
        ("1,1/2", "listed twice"),
        ("0-1/4", "'0-1' is not a shard id"),
        ("-1/4", "is not a shard id"),
    ],
)
def test_bad_shard_settings_say_what_is_wrong(value: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        DiscordSettings(shards=value)


def test_settings_defaults_and_enabling(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOKEN", "API_URL", "GATEWAY_URL", "EMOJI", "SHARDS", "RECONCILE_MINUTES"):
        monkeypatch.delenv(f"HASHCART_DISCORD_{name}", raising=False)
    settings = DiscordSettings()
    assert not settings.enabled
    assert settings.api_url == "https://discord.com/api/v10"
    assert settings.gateway_url == "wss://gateway.discord.gg/"
    assert settings.emoji_spec == EmojiSpec("🛒") and settings.shard_plan is None
    monkeypatch.setenv("HASHCART_DISCORD_TOKEN", "bot-token-value")
    monkeypatch.setenv("HASHCART_DISCORD_CLIENT_ID", "1234567890")
    monkeypatch.setenv("HASHCART_DISCORD_CLIENT_SECRET", "client-secret-value")
    monkeypatch.setenv("HASHCART_DISCORD_GATEWAY_URL", "ws://127.0.0.1:9/")
    settings = DiscordSettings()
    assert settings.enabled
    assert "token-value" not in repr(settings) and "secret-value" not in repr(settings)
    with pytest.raises(ValidationError, match="ws:// or wss://"):
        DiscordSettings(gateway_url="https://gateway.discord.gg/")
    assert settings.reconcile_minutes == 15
    monkeypatch.setenv("HASHCART_DISCORD_RECONCILE_MINUTES", "-1")
    with pytest.raises(ValidationError, match="reconcile_minutes"):
        DiscordSettings()


def test_links_come_from_text_and_every_part_of_embeds() -> None:
    message = {
        "content": "see <https://a.example/1> and https://a.example/2.",
        "embeds": [
            {"url": "https://b.example/page", "description": "also https://b.example/desc"},
            {"fields": [{"name": "x", "value": "||https://c.example/spoiler||"}]},
            "not an embed",
        ],
    }
    assert message_links(message) == [
        "https://a.example/1",
        "https://a.example/2",
        "https://b.example/page",
        "https://b.example/desc",
        "https://c.example/spoiler",
    ]
    assert message_links({"content": None}) == []


def reaction(removed: bool = False) -> Reaction:
    return Reaction(
        message_id=5, channel_id=4, user_id=2, emoji_key="🛒", removed=removed, guild_id=3
    )


def test_one_command_per_product_with_stable_event_ids() -> None:
    products = [
        ("https://x/1", ProductRef("amazon", "B000000001")),
        ("https://x/2", ProductRef("amazon", "B000000002")),
    ]
    added = reaction_commands(reaction(), products, ["https://x/1", "https://x/2"])
    removed = reaction_commands(reaction(removed=True), products, [])
    assert [c.event_id for c in added] == ["5:2:🛒:add:0", "5:2:🛒:add:1"]
    assert [c.event_id for c in removed] == ["5:2:🛒:remove:0", "5:2:🛒:remove:1"]
    # A reaction is a state: its add and its remove set the same keys, one per product.
    assert [c.state for c in added] == [
        StateChange("discord:reaction:5:2:🛒:0", True),
        StateChange("discord:reaction:5:2:🛒:1", True),
    ]
    assert [c.state for c in removed] == [
        StateChange("discord:reaction:5:2:🛒:0", False),
        StateChange("discord:reaction:5:2:🛒:1", False),
    ]
    assert parse_state_key("discord:reaction:5:2:🛒:1") == (5, 2, "🛒", 1)
    assert parse_state_key("discord:reaction:5:x:🛒:1") is None
    assert {c.action for c in added} == {Action.ADD} and {c.action for c in removed} == {
        Action.REMOVE
    }
    target = added[0].reply_to
    assert (target.user, target.channel, target.private) == ("2", "4", True)
    assert dict(target.extra) == {"message_id": "5", "guild_id": "3", "reply_group": "5:2:add"}


def test_no_product_answers_once_on_add_and_not_at_all_on_remove() -> None:
    [command] = reaction_commands(reaction(), [], ["https://example.com"])
    assert command.product is None and command.reference == "https://example.com"
    assert reaction_commands(reaction(), [], [])[0].reference is None
    assert reaction_commands(reaction(removed=True), [], ["https://example.com"]) == []
