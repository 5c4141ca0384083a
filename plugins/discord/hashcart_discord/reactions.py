"""Turning one reaction on one message into hashcart commands: the plugin's translation step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hashcart import Action, CartCommand, ProductRef, ReplyTarget, StateChange

PLATFORM = "discord"
#: Where the state of every cart reaction is kept: `discord:reaction:<message>:<user>:…`.
STATE_PREFIX = f"{PLATFORM}:reaction:"


def message_state_prefix(message_id: int) -> str:
    """The state keys of every reaction on one message start with this."""
    return f"{STATE_PREFIX}{message_id}:"


def parse_state_key(key: str) -> tuple[int, int, str, int] | None:
    """(message, user, emoji key, product index) of a reaction's state key, None if it is not
    one."""
    if not key.startswith(STATE_PREFIX):
        return None
    message, _, rest = key[len(STATE_PREFIX) :].partition(":")
    user, _, rest = rest.partition(":")
    emoji, _, index = rest.rpartition(":")
    if not (message.isdigit() and user.isdigit() and index.isdigit() and emoji):
        return None
    return int(message), int(user), emoji, int(index)


@dataclass(frozen=True, slots=True)
class Reaction:
    """A cart reaction added or removed, reduced to what the commands need."""

    message_id: int
    channel_id: int
    user_id: int
    emoji_key: str
    removed: bool
    guild_id: int | None = None
    user_name: str | None = None
    locale: str | None = None

    def event_id(self, index: int) -> str:
        """What the event is; the core appends which change of the state it was, so removing
        a reaction and adding it again are two events.

        One reaction can carry several products, hence the index of the product in the message.
        """
        verb = "remove" if self.removed else "add"
        return f"{self.message_id}:{self.user_id}:{self.emoji_key}:{verb}:{index}"

    def state(self, index: int) -> StateChange:
        """A reaction has no event id of its own: it is a state. While it stands, the message's
        product is in the reactor's cart because of it; a replayed add or remove finds the
        state already so and changes nothing."""
        key = f"{message_state_prefix(self.message_id)}{self.user_id}:{self.emoji_key}:{index}"
        return StateChange(key, present=not self.removed)

    def reply_target(self) -> ReplyTarget:
        """Answers go by DM (`private`); the channel is only for the closed-DMs notice."""
        verb = "remove" if self.removed else "add"
        # One reaction on a message naming several products: one DM listing them.
        extra = {
            "message_id": str(self.message_id),
            "reply_group": f"{self.message_id}:{self.user_id}:{verb}",
        }
        if self.guild_id is not None:
            extra["guild_id"] = str(self.guild_id)
        return ReplyTarget(
            platform=PLATFORM,
            user=str(self.user_id),
            channel=str(self.channel_id),
            private=True,
            extra=extra,
        )


def reaction_commands(
    reaction: Reaction,
    products: Sequence[tuple[str, ProductRef]],
    links: Sequence[str],
    barcodes: Sequence[tuple[str, ProductRef | None]] = (),
) -> list[CartCommand]:
    """One command per product in the message: its product links, or else its barcodes.

    Links count first: a deal post that shows a product link and its barcode names one
    product, not two. Only when no link is a product do the barcodes count, each with the
    product it resolved to, or none (a wrong check digit, an unknown code) for the core to
    answer. A cart reaction on a message naming no product still gets one answer saying so (the
    core words it from the first link, or from its absence); taking back a reaction that added
    nothing says nothing, the first answer already did (and its state stays: it is not answered
    again when the reaction comes back).
    """
    action = Action.REMOVE if reaction.removed else Action.ADD

    def command(index: int, product: ProductRef | None, reference: str | None) -> CartCommand:
        return CartCommand(
            platform=PLATFORM,
            user_id=str(reaction.user_id),
            action=action,
            event_id=reaction.event_id(index),
            state=reaction.state(index),
            reply_to=reaction.reply_target(),
            product=product,
            reference=reference,
            user_name=reaction.user_name,
            locale=reaction.locale,
        )

    if products:
        return [command(index, ref, url) for index, (url, ref) in enumerate(products)]
    if barcodes:
        return [
            command(index, ref, code)
            for index, (code, ref) in enumerate(barcodes)
            if ref is not None or not reaction.removed
        ]
    if reaction.removed:
        return []
    return [command(0, None, links[0] if links else None)]
