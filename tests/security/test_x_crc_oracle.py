"""The X CRC route must not sign what a stranger hands it.

X signs a delivery with the same HMAC of the consumer secret that answers the CRC challenge, so a
CRC route that signs any text is a signing oracle: ask it to "answer" the body of a forged
delivery, then POST that body with the answer as its signature.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

import hashcart_twitter
from hashcart.testing import running_hashcart
from hashcart_twitter.testing import XStandin, crc_response, delivery, tweet, user

ALICE = user("alice", "6253282")
ECHO = "https://www.amazon.com/dp/B00X4WHP5E"


async def test_crc_oracle_cannot_sign_a_forged_delivery() -> None:
    async with (
        XStandin() as x,
        running_hashcart(plugins=[hashcart_twitter], env=x.env()) as hc,
        aiohttp.ClientSession() as http,
    ):
        await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        await hc.link("alice", "twitter", ALICE["id_str"])
        url = f"{hc.url}/twitter/webhook"
        forged = json.dumps(delivery([tweet("#amazoncart", user=ALICE, urls=[ECHO])])).encode()

        async with http.get(url, params={"crc_token": forged.decode()}) as resp:
            crc_status, answer = resp.status, await resp.json()
        # Whatever the route answered is what the attacker signs the forgery with.
        stolen = answer.get("response_token", "sha256=")
        headers = {"x-twitter-webhooks-signature": stolen, "Content-Type": "application/json"}
        async with http.post(url, data=forged, headers=headers) as resp:
            forged_status = resp.status

        assert await hc.events() == [], "the forged delivery was applied"
        assert await hc.cart("twitter", ALICE["id_str"]) in (None, [])
        assert forged_status == 401
        assert crc_status == 400 and answer["error"]["code"] == "bad_crc_token"
        assert "response_token" not in answer


@pytest.mark.parametrize(
    "token",
    [
        '{"for_user_id":"1"}',
        "a b",
        "x" * 257,
        "abc===",
        "abc+/",
        "naïve",
        "line\nbreak",
    ],
    ids=[
        "json",
        "space",
        "too-long",
        "too-much-padding",
        "standard-base64",
        "non-ascii",
        "newline",
    ],
)
async def test_crc_refuses_tokens_not_shaped_like_x_s(token: str) -> None:
    async with (
        XStandin() as x,
        running_hashcart(plugins=[hashcart_twitter], env=x.env()) as hc,
        aiohttp.ClientSession() as http,
    ):
        url = f"{hc.url}/twitter/webhook"
        async with http.get(url, params={"crc_token": token}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "bad_crc_token"


@pytest.mark.parametrize(
    "token",
    [
        "M2RkODJkZmMtYjlkYi00NmQ4LTk0MGUtM2JjYzkwM2Q4MjQ0",  # X's shape: base64 of a UUID
        "challenge_string",
        "a",
        "x" * 256,
        "YWJjZA==",
        "a-b_c",
    ],
)
async def test_crc_answers_tokens_shaped_like_x_s(token: str) -> None:
    async with (
        XStandin() as x,
        running_hashcart(plugins=[hashcart_twitter], env=x.env()) as hc,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"{hc.url}/twitter/webhook", params={"crc_token": token}) as resp:
            assert resp.status == 200
            assert await resp.json() == crc_response(x.consumer_secret, token)
        assert await x.check_crc(f"{hc.url}/twitter/webhook")


async def test_crc_oracle_route_does_not_exist_in_stream_mode() -> None:
    async with XStandin(keepalive_seconds=0.1) as x:
        env = x.env(mode="stream", stream_backoff_scale="0.01", stream_stall_seconds="1")
        async with (
            running_hashcart(plugins=[hashcart_twitter], env=env) as hc,
            aiohttp.ClientSession() as http,
        ):
            url = f"{hc.url}/twitter/webhook"
            async with http.get(url, params={"crc_token": "challenge_string"}) as resp:
                assert resp.status == 404
                assert "response_token" not in await resp.text()
            body = json.dumps(delivery([tweet("#amazoncart", user=ALICE, urls=[ECHO])])).encode()
            signature = crc_response(x.consumer_secret, body.decode())["response_token"]
            headers = {"x-twitter-webhooks-signature": signature}
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == 404
            assert await hc.events() == []
