"""Bolt's OAuth stores kept in hashcart's own database, through the plugin key-value store.

Installations are stored per workspace (and per enterprise for org-wide installs) as the JSON
that slack_sdk's models produce, so Bolt's authorize step finds each workspace's bot token on
any node. OAuth states live ten minutes and are consumed once.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from hashcart import KeyValue

INSTALLATIONS = "slack.installations"
BOTS = "slack.bots"
STATES = "slack.oauth_states"
STATE_TTL = 600

log = logging.getLogger(__name__)


def _key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool) -> str:
    team = "-" if is_enterprise_install else (team_id or "-")
    return f"{enterprise_id or '-'}:{team}"


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """slack_sdk models hold datetimes and None; keep what JSON can carry."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            stamp = value.timestamp()
            value = stamp if key == "installed_at" else int(stamp)
        out[key] = value
    return out


class _OnKeyValue:
    """What both Bolt stores share: the plugin key-value store they keep their data in."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @property
    def logger(self) -> logging.Logger:
        return log


class KvInstallationStore(_OnKeyValue, AsyncInstallationStore):
    async def async_save(self, installation: Installation) -> None:
        key = _key(
            installation.enterprise_id,
            installation.team_id,
            bool(installation.is_enterprise_install),
        )
        await self._kv.put(INSTALLATIONS, key, _jsonable(installation.to_dict_for_copying()))
        await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        key = _key(bot.enterprise_id, bot.team_id, bool(bot.is_enterprise_install))
        await self._kv.put(BOTS, key, _jsonable(bot.to_dict_for_copying()))

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        data = await self._kv.get(BOTS, _key(enterprise_id, team_id, bool(is_enterprise_install)))
        if data is None and enterprise_id and not is_enterprise_install:
            data = await self._kv.get(BOTS, _key(enterprise_id, None, True))
        return Bot(**data) if data else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        key = _key(enterprise_id, team_id, bool(is_enterprise_install))
        data = await self._kv.get(INSTALLATIONS, key)
        if not data or (user_id is not None and data.get("user_id") != user_id):
            return None
        return Installation(**data)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """`tokens_revoked` (bot) and `app_uninstalled`: the workspace's bot token is gone."""
        await self._kv.delete(BOTS, _key(enterprise_id, team_id, not team_id))

    async def async_delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> None:
        """Without `user_id` the workspace's installation goes (`app_uninstalled`); with one,
        only that person's user token (`tokens_revoked` lists people, not installations)."""
        key = _key(enterprise_id, team_id, not team_id)
        if user_id is None:
            await self._kv.delete(INSTALLATIONS, key)
            return
        data = await self._kv.get(INSTALLATIONS, key)
        if not data or data.get("user_id") != user_id:
            return
        kept = {k: v for k, v in data.items() if not k.startswith("user_") or k == "user_id"}
        await self._kv.put(INSTALLATIONS, key, kept)


class KvStateStore(_OnKeyValue, AsyncOAuthStateStore):
    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        await self._kv.put(STATES, state, True, ttl=STATE_TTL)
        return state

    async def async_consume(self, state: str) -> bool:
        if not state or await self._kv.get(STATES, state) is None:
            return False
        await self._kv.delete(STATES, state)
        return True
