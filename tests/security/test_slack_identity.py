"""Slack user ids are unique per workspace only: hashcart keys a Slack person by team + user."""

from __future__ import annotations

import hashcart_slack
from hashcart.testing import eventually, running_hashcart
from hashcart_slack.testing import SlackStandin

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"


async def test_same_user_id_in_another_workspace_cannot_use_the_cart(database_url: str):
    """The attack: in multi-workspace Slack, a member of another workspace whose user id equals
    a linked person's acted on that person's cart."""
    async with SlackStandin() as slack:
        env = {
            "HASHCART_SLACK_SIGNING_SECRET": slack.signing_secret,
            "HASHCART_SLACK_BOT_TOKEN": slack.bot_token,
            "HASHCART_SLACK_API_URL": slack.api_url,
        }
        async with running_hashcart(
            plugins=[hashcart_slack], env=env, database_url=database_url
        ) as hc:
            await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
            await hc.link("alice", "slack", f"{slack.team_id}:U0ALICE")
            url = f"{hc.url}/slack/events"

            own = await slack.slash_command(url, f"add <{ECHO}>", user_id="U0ALICE")
            await eventually(lambda: slack.responses_to(own.response_url))

            slack.team_id = "T0OTHER"  # the same app, installed in a second workspace
            other = await slack.slash_command(url, f"add <{ECHO}>", user_id="U0ALICE")
            (answer,) = await eventually(lambda: slack.responses_to(other.response_url))
            assert "Echo Dot" not in answer.text  # asked to link, not added

            items = await hc.cart("slack", "T0001:U0ALICE") or []
            assert [(i["product_id"], i["quantity"]) for i in items] == [("amazon:B00X4WHP5E", 1)]
            assert await hc.cart("slack", "T0OTHER:U0ALICE") is None
            assert await hc.cart("slack", "U0ALICE") is None
