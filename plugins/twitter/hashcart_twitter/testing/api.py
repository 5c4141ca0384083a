"""The X stand-in's REST endpoints: tweet lookup, posting, DMs, OAuth 2.0 and `me`."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from hashcart.testing.standins.oauth2 import OAuthError
from hashcart_twitter.testing.base import XStandinBase
from hashcart_twitter.testing.payloads import _reply_fields, _v2_user, new_tweet_id, to_v2, tweet
from hashcart_twitter.testing.records import PostedDM, PostedTweet, _csv, _json_body, _weight


class _RestApi(XStandinBase):
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
        fields = _csv(request.query.get("tweet.fields") or request.query.get("post.fields"))
        expansions = _csv(request.query.get("expansions"))
        data = to_v2(stored, fields=fields)
        body: dict[str, Any] = {"data": data}
        includes: dict[str, Any] = {}
        if "author_id" in expansions:
            includes["users"] = [_v2_user(stored["user"])]
        if {"referenced_tweets.id", "referenced_posts.id"} & expansions:
            refs = [r["id"] for r in to_v2(stored).get("referenced_tweets", [])]
            seen = [
                self.tweets[r]
                for r in refs
                if r in self.tweets and self._visible(self.tweets[r], auth)
            ]
            if seen:
                includes["tweets"] = [to_v2(t, fields=fields) for t in seen]
            if "referenced_tweets.id.author_id" in expansions:
                users = {u["id"]: u for u in includes.get("users", [])}
                for t in seen:
                    users.setdefault(t["user"]["id_str"], _v2_user(t["user"]))
                includes["users"] = list(users.values())
        if includes:
            body["includes"] = includes
        return self._json(request, 200, body, auth)

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
