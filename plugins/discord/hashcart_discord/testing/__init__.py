"""A local Discord for tests and the playground: `DiscordStandin` and its objects."""

from __future__ import annotations

from hashcart import hookimpl
from hashcart_discord.testing.commands import (
    OPTION_BOOLEAN,
    OPTION_INTEGER,
    OPTION_NUMBER,
    OPTION_STRING,
    OPTION_SUB_COMMAND,
    OPTION_SUB_COMMAND_GROUP,
    Problem,
    check_command_use,
    command_problems,
)
from hashcart_discord.testing.models import (
    Channel,
    CustomEmoji,
    Guild,
    Interaction,
    Message,
    SentMessage,
    User,
)
from hashcart_discord.testing.standin import DiscordStandin
from hashcart_discord.testing.wire import (
    APP_FLAG_GATEWAY_MESSAGE_CONTENT,
    CLOSE_AUTHENTICATION_FAILED,
    CLOSE_DISALLOWED_INTENTS,
    CLOSE_INVALID_SHARD,
    DISCORD_EPOCH_MS,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_PRESENCES,
    INTENT_MESSAGE_CONTENT,
    OP_DISPATCH,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_RESUME,
    PRIVILEGED_INTENTS,
)


@hookimpl
def hashcart_standins() -> DiscordStandin:
    return DiscordStandin()


__all__ = [
    "APP_FLAG_GATEWAY_MESSAGE_CONTENT",
    "CLOSE_AUTHENTICATION_FAILED",
    "CLOSE_DISALLOWED_INTENTS",
    "CLOSE_INVALID_SHARD",
    "DISCORD_EPOCH_MS",
    "INTENT_GUILD_MEMBERS",
    "INTENT_GUILD_PRESENCES",
    "INTENT_MESSAGE_CONTENT",
    "OPTION_BOOLEAN",
    "OPTION_INTEGER",
    "OPTION_NUMBER",
    "OPTION_STRING",
    "OPTION_SUB_COMMAND",
    "OPTION_SUB_COMMAND_GROUP",
    "OP_DISPATCH",
    "OP_HEARTBEAT",
    "OP_HEARTBEAT_ACK",
    "OP_HELLO",
    "OP_IDENTIFY",
    "OP_INVALID_SESSION",
    "OP_RESUME",
    "PRIVILEGED_INTENTS",
    "Channel",
    "CustomEmoji",
    "DiscordStandin",
    "Guild",
    "Interaction",
    "Message",
    "Problem",
    "SentMessage",
    "User",
    "check_command_use",
    "command_problems",
]
