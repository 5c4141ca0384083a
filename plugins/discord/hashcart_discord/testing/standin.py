"""A local Discord: REST API and gateway websocket, as the real discord.py client expects them.

It keeps the rules a bot depends on (Discord API v10 as discord.py 2.7 uses it): bare JSON
content types, 429s with `Via` and `retry_after`, sessions that replay what a dropped socket
missed on RESUME and nothing after a fresh IDENTIFY, shards, paged reactors behind rate limits,
closable DMs, the message-content gate.

    async with DiscordStandin() as discord:
        alice = discord.add_user("alice")
        guild = discord.add_guild("shop")
        channel = discord.add_channel(guild, "deals")
        message = discord.post_message(channel, alice, "look https://www.amazon.com/dp/B00X4WHP5E")
        # ...start a bot with discord.env...
        await discord.react(alice, message, "🛒")
"""

from __future__ import annotations

from aiohttp import web

from hashcart_discord.testing.api import _RestApi
from hashcart_discord.testing.gateway import _Gateway


class DiscordStandin(_Gateway, _RestApi):
    """Discord's REST API under `/api/v10` and its gateway at `/`, on one local port.

    `message_content` says whether the bot's application has the privileged Message Content
    intent switched on: without it, fetched guild messages come back with empty content and
    embeds (unless they mention the bot), as on discord.com, and an IDENTIFY asking for the
    intent is closed with 4014.
    """

    platform = "discord"

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        api = "/api/v10"
        app.router.add_get("/", self._gateway)
        app.router.add_get("/oauth2/authorize", self.oauth2.authorize)
        app.router.add_post(api + "/oauth2/token", self._oauth2_token)
        app.router.add_get(api + "/gateway", self._get_gateway)
        app.router.add_get(api + "/gateway/bot", self._get_gateway_bot)
        app.router.add_get(api + "/users/@me", self._get_me)
        app.router.add_get(api + "/users/{user_id:\\d+}", self._get_user)
        app.router.add_get(api + "/oauth2/applications/@me", self._get_application)
        app.router.add_get(api + "/channels/{channel_id}", self._get_channel)
        app.router.add_get(api + "/channels/{channel_id}/messages/{message_id}", self._get_message)
        app.router.add_get(
            api + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
            self._get_reactions,
        )
        app.router.add_post(api + "/users/@me/channels", self._create_dm)
        app.router.add_post(api + "/channels/{channel_id}/messages", self._create_message)
        commands = api + "/applications/{app_id}/commands"
        app.router.add_get(commands, self._get_commands)
        app.router.add_put(commands, self._put_commands)
        app.router.add_post(api + "/interactions/{id}/{token}/callback", self._interaction_callback)
        app.router.add_patch(
            api + "/webhooks/{app_id}/{token}/messages/@original", self._edit_original
        )
        app.router.add_post(api + "/webhooks/{app_id}/{token}", self._follow_up)
        return app
