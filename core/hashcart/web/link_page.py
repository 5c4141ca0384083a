"""`/link/{token}`: the page a bot's link reply points at, where a signed-in person accepts
the identity into their cart."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hashcart.errors import Conflict
from hashcart.web.pages import (
    current_account,
    form_handler,
    identity_label,
    linked_elsewhere,
    message,
    page,
    platform_name,
    see_other,
)
from hashcart.web.server import hashcart_of
from hashcart.web.session import with_session


async def _token_problem(request: web.Request, token: str) -> web.Response | None:
    found = await hashcart_of(request).accounts.token(token)
    if found is None:
        return await message(
            request,
            404,
            "web.error.link_unknown.title",
            "web.error.link_unknown.text",
        )
    if not found.usable:
        return await message(
            request,
            410,
            "web.error.link_expired.title",
            "web.error.link_expired.text",
            {"minutes": hashcart_of(request).settings.link_token_minutes},
        )
    return None


@with_session
async def link_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    problem = await _token_problem(request, token)
    if problem is not None:
        return problem
    hashcart = hashcart_of(request)
    found = await hashcart.accounts.token(token)
    assert found is not None
    return await page(
        request,
        "link.html",
        who=identity_label(found.platform, found.user_id, found.user_name),
        platform=platform_name(found.platform),
        token=token,
        next=f"/link/{token}",
        pending=await hashcart.accounts.pending_count(found.platform, found.user_id),
    )


@form_handler
async def confirm_link(request: web.Request, form: dict[str, Any]) -> web.Response:
    token = request.match_info["token"]
    account = await current_account(request)
    if account is None:
        return see_other(f"/link/{token}")
    hashcart = hashcart_of(request)
    claimed = await hashcart.accounts.claim_token(token)
    if claimed is None:
        problem = await _token_problem(request, token)
        return problem or see_other(f"/link/{token}")
    try:
        await hashcart.link_identity(
            account["id"], claimed.platform, claimed.user_id, claimed.user_name
        )
    except Conflict:
        await hashcart.accounts.release_token(token)
        who = identity_label(claimed.platform, claimed.user_id, claimed.user_name)
        return await linked_elsewhere(request, who, platform_name(claimed.platform))
    return see_other("/cart?done=linked")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/link/{token}", link_page)
    app.router.add_post("/link/{token}", confirm_link)
