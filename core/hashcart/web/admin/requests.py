"""How every admin route treats a request: the bearer token, a JSON body checked against its
model, and refusals answered in the one error shape."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hashcart.errors import Conflict, NotFound
from hashcart.web.server import hashcart_of, json_error

Model = TypeVar("Model", bound=BaseModel)
HandlerFn = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    handler: HandlerFn
    responses: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    query: tuple[tuple[str, str], ...] = ()


def refusal(request: web.Request) -> web.Response | None:
    token = hashcart_of(request).settings.admin_token
    if not token:
        return json_error(403, "admin_disabled", "the admin API is off: set HASHCART_ADMIN_TOKEN")
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
        return json_error(
            401,
            "unauthorized",
            "a valid bearer token is required",
            **{"WWW-Authenticate": "Bearer"},
        )
    return None


async def read_body(request: web.Request, model: type[Model]) -> Model:
    if request.content_type != "application/json":
        raise Reject(415, "unsupported_media_type", "send the body as application/json")
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep for the parser
        raise Reject(400, "malformed_json", "the body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Reject(422, "invalid", f"{where}: {first['msg']}") from None


class Reject(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def as_json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=model.model_dump_json(), content_type="application/json"
    )


def guarded(handler: HandlerFn) -> HandlerFn:
    async def guarded(request: web.Request) -> web.StreamResponse:
        refused = refusal(request)
        if refused is not None:
            return refused
        try:
            return await handler(request)
        except Reject as exc:
            return json_error(exc.status, exc.code, exc.message)
        except NotFound as exc:
            return json_error(404, "not_found", str(exc))
        except Conflict as exc:
            return json_error(409, "conflict", str(exc))

    return guarded
