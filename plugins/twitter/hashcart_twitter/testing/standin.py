"""A local X for tests, the playground and plugin authors: the v2 API the bot calls, the filtered
stream, and signed webhook deliveries.

It follows X's wire format (docs/wire-formats.md): OAuth 1.0a user-context signatures are
verified with oauthlib's own server-side endpoint, the stream speaks newline-delimited JSON with
blank keep-alive lines, errors are Problem JSON, a repeated post is refused with X's 403
"duplicate content", and webhook deliveries are signed exactly as X signs them.

    async with XStandin() as x:
        env = x.env()                               # HASHCART_TWITTER_* pointing here
        product = x.add_tweet(tweet("Look", user=bob, urls=["https://www.amazon.com/dp/B0..."]))
        reply = tweet("#amazoncart", user=alice, in_reply_to=product)
        await x.deliver(f"{app_url}/twitter/webhook", [reply])
        await eventually(lambda: x.replies_to(reply))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from hashcart.testing.standins.oauth2 import OAuthError
from hashcart_twitter.testing.base import XStandinBase
from hashcart_twitter.testing.payloads import (
    _reply_fields,
    _v2_user,
    new_tweet_id,
    stream_message,
    tweet,
    user,
    v2_envelope,
)
from hashcart_twitter.testing.records import (
    _MAX_BACKFILL,
    PostedDM,
    PostedTweet,
    _csv,
    _iso_now,
    _json_body,
    _matches,
    _Stream,
    _weight,
)


class XStandin(XStandinBase):
    """X on 127.0.0.1: API v2 at `url`, a filtered stream, a webhook sender, and the faults of
    `fail_next`, `fail_for`, `answer_late` and `go_down` / `come_back`."""

    platform = "twitter"
    #: The payload builders, for code that gets the stand-in through `hashcart_standins`.
    user = staticmethod(user)
    tweet = staticmethod(tweet)

    def make_app(self) -> web.Application:
        """The aiohttp application; mount it elsewhere (the playground does) or `start()` it."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/2/tweets/search/stream/rules", self._get_rules)
        app.router.add_post("/2/tweets/search/stream/rules", self._post_rules)
        app.router.add_get("/2/tweets/search/stream", self._stream)
        app.router.add_get("/2/tweets/{id}", self._lookup)
        app.router.add_post("/2/tweets", self._create)
        app.router.add_post("/2/dm_conversations/with/{participant_id}/messages", self._dm)
        app.router.add_get("/2/users/me", self._me)
        app.router.add_get("/i/oauth2/authorize", self.oauth2.authorize)
        app.router.add_post("/2/oauth2/token", self._oauth2_token)
        return app

    async def stream_tweet(self, v1: Mapping[str, Any]) -> int:
        """Publish a tweet and send it down every open stream whose rules match; returns count.
        A connection opened later with a backfill of the minutes since gets it too, as on X."""
        stored = self.add_tweet(v1)
        now = time.time()
        self._streamed = [(t, s) for t, s in self._streamed if now - t < 60 * _MAX_BACKFILL]
        self._streamed.append((now, stored))
        matched = [rule for rule in self.rules.values() if _matches(rule["value"], stored)]
        if not matched:
            return 0
        for stream in self._streams:
            stream.queue.put_nowait(self._stream_line(stored, matched, stream))
        return len(self._streams)

    def _stream_line(
        self, stored: Mapping[str, Any], matched: Sequence[Mapping[str, str]], stream: _Stream
    ) -> bytes:
        message = stream_message(
            stored,
            known=self.tweets,
            matching_rules=matched,
            expansions=stream.expansions,
            app_only=True,
        )
        return json.dumps(message).encode() + b"\r\n"

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self._unauthorized(request)
        backfill = request.query.get("backfill_minutes")
        if backfill is not None and (
            not backfill.isdigit() or not 0 <= int(backfill) <= _MAX_BACKFILL
        ):
            detail = "The `backfill_minutes` query parameter value must be between 0 and 5"
            return self._invalid(request, detail)
        minutes = int(backfill or 0)
        if minutes and not self.backfill_allowed:
            detail = "backfill_minutes is not available at your access level"
            return self._problem(request, 403, "Client Forbidden", detail, "client-forbidden")
        self._streams = [s for s in self._streams if not s.closed]
        if len(self._streams) >= self.max_stream_connections:
            detail = "This stream is currently at the maximum allowed connection limit."
            return self._problem(
                request, 429, "ConnectionException", detail, "streaming-connection"
            )
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.headers.update(self._limit_headers())
        await response.prepare(request)
        stream = _Stream(request, _csv(request.query.get("expansions")))
        since = time.time() - 60 * minutes
        for at, stored in self._streamed if minutes else ():
            matched = [r for r in self.rules.values() if _matches(r["value"], stored)]
            if at >= since and matched:
                stream.queue.put_nowait(self._stream_line(stored, matched, stream))
        self._streams.append(stream)
        self.stream_connections += 1
        self._record(request, None, "bearer", 200)
        try:
            while True:
                try:
                    line = await asyncio.wait_for(stream.queue.get(), self.keepalive_seconds)
                except TimeoutError:
                    line = b"\r\n"
                if line is None:
                    break
                await response.write(line)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            if stream in self._streams:
                self._streams.remove(stream)
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response

    @property
    def open_streams(self) -> int:
        return len([s for s in self._streams if not s.closed])

    async def wait_for_stream(self, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while not self.open_streams:
            if time.monotonic() > deadline:
                raise TimeoutError("no client connected to the filtered stream")
            await asyncio.sleep(0.01)

    async def _get_rules(self, request: web.Request) -> web.Response:
        if not self._bearer_ok(request):
            return self._unauthorized(request)
        meta = {"sent": _iso_now(), "result_count": len(self.rules)}
        body: dict[str, Any] = {"meta": meta}
        if self.rules:
            body["data"] = list(self.rules.values())
        return self._json(request, 200, body, "bearer")

    async def _post_rules(self, request: web.Request) -> web.Response:
        if not self._bearer_ok(request):
            return self._unauthorized(request)
        payload = await _json_body(request)
        if not isinstance(payload, dict) or "add" not in payload:
            return self._invalid(request, "add rules")
        created: list[dict[str, str]] = []
        errors = []
        existing = {rule["value"] for rule in self.rules.values()}
        for rule in payload.get("add") or []:
            value = str(rule.get("value", "")).strip()
            if not value or value in existing:
                same = next((r["id"] for r in self.rules.values() if r["value"] == value), "")
                kind = "https://api.x.com/2/problems/duplicate-rules"
                errors.append({"value": value, "id": same, "title": "DuplicateRule", "type": kind})
                continue
            new = {"id": str(next(self._rule_ids)), "value": value}
            if rule.get("tag"):
                new["tag"] = str(rule["tag"])
            created.append(new)
            existing.add(value)
        self.rules.update({rule["id"]: rule for rule in created})
        made, refused = len(created), len(errors)
        summary = {"created": made, "not_created": refused, "valid": made, "invalid": refused}
        body: dict[str, Any] = {"meta": {"sent": _iso_now(), "summary": summary}}
        if created:
            body["data"] = created
        if errors:
            body["errors"] = errors
        return self._json(request, 201 if created else 200, body, "bearer")

    async def _lookup(self, request: web.Request) -> web.Response:
        auth = self._auth(request, allow_bearer=True)
        if auth is None:
            return self._unauthorized(request)
        tweet_id = request.match_info["id"]
        stored = self.tweets.get(tweet_id)
        if stored is None or not self._visible(stored, auth):
            kind = "resource-not-found" if stored is None else "not-authorized-for-resource"
            title = "Not Found Error" if stored is None else "Authorization Error"
            error = {
                "resource_id": tweet_id,
                "resource_type": "tweet",
                "title": title,
                "detail": f"Could not find tweet with id: [{tweet_id}].",
                "type": f"https://api.x.com/2/problems/{kind}",
                "parameter": "id",
                "value": tweet_id,
            }
            return self._json(request, 200, {"errors": [error]}, auth)
        envelope = v2_envelope(
            stored,
            known=self.tweets,
            expansions=_csv(request.query.get("expansions")),
            fields=_csv(request.query.get("tweet.fields") or request.query.get("post.fields")),
            visible=lambda t: self._visible(t, auth),
        )
        if not envelope["includes"]:
            del envelope["includes"]
        return self._json(request, 200, envelope, auth)

    async def _create(self, request: web.Request) -> web.Response:
        auth = self._auth(request, allow_bearer=False)
        if auth is None:
            return self._unauthorized(request)
        payload = await _json_body(request)
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip() or _weight(text) > 280:
            return self._invalid(request, "text must be 1 to 280 characters")
        assert isinstance(payload, dict)
        reply_to = (payload.get("reply") or {}).get("in_reply_to_tweet_id")
        if reply_to is not None and str(reply_to) not in self.tweets:
            return self._invalid(
                request, "Your Tweet cannot be a reply to a Tweet that does not exist."
            )
        now = time.time()
        author = self.bot["id_str"]
        seen = self._recent.get((author, text))
        if seen is not None and now - seen < self.duplicate_window:
            detail = "You are not allowed to create a Tweet with duplicate content."
            return self._forbidden(request, detail, auth, payload)
        self._recent[(author, text)] = now
        tid = new_tweet_id()
        stored = tweet(text, user=self.bot, tweet_id=tid)
        if reply_to is not None:
            stored.update(_reply_fields(self.tweets[str(reply_to)]))
        self.tweets[tid] = stored
        self.posted.append(PostedTweet(tid, text, str(reply_to) if reply_to else None, author, now))
        data = {"id": tid, "text": text, "edit_history_tweet_ids": [tid]}
        return self._json(request, 201, {"data": data}, auth, record_body=payload)

    async def _dm(self, request: web.Request) -> web.Response:
        auth = self._auth(request, allow_bearer=False)
        if auth is None:
            return self._unauthorized(request)
        payload = await _json_body(request)
        participant = request.match_info["participant_id"]
        valid = (
            isinstance(payload, dict)
            and set(payload) <= {"text", "attachments"}
            and isinstance(payload.get("text"), str)
            and len(payload["text"]) >= 1
        )
        if not valid or not participant.isdigit():
            return self._invalid(request, "a DM needs a text")
        assert isinstance(payload, dict)
        if participant in self.closed_dms:
            detail = "You are not permitted to send Direct Messages to this user."
            return self._forbidden(request, detail, auth, payload)
        event_id = new_tweet_id()
        pair = sorted([participant, self.bot["id_str"]], key=int)
        self.dms.append(PostedDM(event_id, participant, payload["text"], time.time()))
        data = {"dm_conversation_id": "-".join(pair), "dm_event_id": event_id}
        return self._json(request, 201, {"data": data}, auth, record_body=payload)

    async def _oauth2_token(self, request: web.Request) -> web.Response:
        """POST /2/oauth2/token: a confidential client (Basic) trades its code for a token."""
        form = await request.post()
        issued = self.oauth2.exchange(request.headers, form)
        if isinstance(issued, OAuthError):
            refusal = {"error": issued.error, "error_description": f"{issued.error} (stand-in)"}
            return self._json(request, issued.status, refusal, "none")
        body = {
            "token_type": "bearer",
            "expires_in": 7200,
            "access_token": issued.access_token,
            "scope": issued.scope,
        }
        return self._json(request, 200, body, "basic")

    async def _me(self, request: web.Request) -> web.Response:
        signed_in = self.oauth2.bearer_user(request)
        if signed_in is not None:
            return self._json(request, 200, {"data": _v2_user(signed_in)}, "oauth2")
        auth = self._auth(request, allow_bearer=False)
        if auth is None:
            return self._unauthorized(request)
        return self._json(request, 200, {"data": _v2_user(self.bot)}, auth)

    def _forbidden(
        self, request: web.Request, detail: str, auth: str, payload: object
    ) -> web.Response:
        body = {"detail": detail, "type": "about:blank", "title": "Forbidden", "status": 403}
        return self._json(request, 403, body, auth, record_body=payload)
