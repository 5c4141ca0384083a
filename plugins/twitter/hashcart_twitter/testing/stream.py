"""The v2 filtered stream and its rules, as the X stand-in serves them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from hashcart_twitter.testing.base import XStandinBase
from hashcart_twitter.testing.payloads import stream_message
from hashcart_twitter.testing.records import (
    _MAX_BACKFILL,
    _csv,
    _iso_now,
    _json_body,
    _matches,
    _Stream,
)


class _FilteredStream(XStandinBase):
    async def stream_tweet(self, v1: Mapping[str, Any]) -> int:
        """Publish a tweet and send it down every open stream whose rules match; returns count.

        With no stream open the tweet is not sent now, but a connection asking for a backfill
        of the minutes since gets it, as on X.
        """
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
        self,
        stored: Mapping[str, Any],
        matched: Sequence[Mapping[str, str]],
        stream: _Stream,
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
            return self._problem(
                request,
                403,
                "Client Forbidden",
                "backfill_minutes is not available at your access level",
                "client-forbidden",
            )
        self._streams = [s for s in self._streams if not s.closed]
        if len(self._streams) >= self.max_stream_connections:
            return self._problem(
                request,
                429,
                "ConnectionException",
                "This stream is currently at the maximum allowed connection limit.",
                "streaming-connection",
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
        """How many clients hold the filtered stream open now."""
        return len([s for s in self._streams if not s.closed])

    async def wait_for_stream(self, within: float = 5.0) -> None:
        """Wait until a client holds the stream open."""
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
        summary = {
            "created": len(created),
            "not_created": len(errors),
            "valid": len(created),
            "invalid": len(errors),
        }
        body: dict[str, Any] = {"meta": {"sent": _iso_now(), "summary": summary}}
        if created:
            body["data"] = created
        if errors:
            body["errors"] = errors
        return self._json(request, 201 if created else 200, body, "bearer")
