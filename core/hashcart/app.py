"""The `Hashcart` object: settings, plugins, storage, the applier and the reply sender, wired once.

Plugins receive it in their hooks; `hashcart serve`, the admin API and the test kit drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from aiohttp import web
from pydantic_settings import BaseSettings

from hashcart.accounts import Accounts
from hashcart.barcodes import InvalidBarcode, parse_barcode
from hashcart.catalog import Catalog
from hashcart.commands import (
    PRODUCT_ACTIONS,
    Action,
    CartCommand,
    Outcome,
    OutcomeCode,
    Product,
    ProductRef,
)
from hashcart.config import Settings, load_settings
from hashcart.errors import ConfigError, Unavailable
from hashcart.i18n import minutes, money, translate
from hashcart.kv import KeyValueStore
from hashcart.leases import Leases
from hashcart.logs import current_event
from hashcart.metrics import Metrics
from hashcart.notify import CartChanges
from hashcart.orders import OrderPlacer
from hashcart.outbox import ReplySender
from hashcart.pipeline.applier import Applier
from hashcart.pipeline.prepared import Prepared
from hashcart.platform import Platform
from hashcart.plugins import PluginManager
from hashcart.policy import PolicyRules, refusal_before_lookup
from hashcart.product_cache import ProductCache
from hashcart.retention import prune_loop
from hashcart.sources import ProductSource, SourceUnavailable
from hashcart.states import standing
from hashcart.store import create_engine, is_outage, is_postgres
from hashcart.store.counters import RateCounters

log = logging.getLogger(__name__)

SettingsT = TypeVar("SettingsT", bound=BaseSettings)
T = TypeVar("T")

#: How many redirects a short link may take before it is given up.
MAX_REDIRECT_HOPS = 3


class _StoreRefused(Exception):
    """A product lookup failed for a reason other than an outage."""


class Hashcart:
    """One hashcart instance. Create, `await start()`, use, `await stop()`; what plugins may use
    of it is `hashcart.Host`, documented there."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        plugins: Sequence[object] = (),
        load_entry_points: bool = True,
    ) -> None:
        self.settings = settings or load_settings(Settings)
        self.plugins = PluginManager()
        if load_entry_points:
            self.plugins.load_entry_points(self.settings.plugin_allow_list())
        self.plugins.register(plugins)
        self.metrics = Metrics()
        self.http_timeout = aiohttp.ClientTimeout(total=10, connect=3)
        self._plugin_settings: dict[type[BaseSettings], BaseSettings] = {}
        for model in self.plugins.hook.hashcart_settings():
            if model is not None:
                self.settings_for(model)  # a bad value stops start-up here
        self.engine = create_engine(self.settings.database_url)
        self.catalog = Catalog(self.engine)
        self.products = ProductCache(
            self.catalog, self.settings.product_ttl, self.metrics.source_fetches, self.writing
        )
        self.accounts = Accounts(self.engine)
        self.kv = KeyValueStore(self.engine)
        self.policy_rules = PolicyRules(self.kv)
        self.leases = Leases(self.engine)
        self.counters = RateCounters(self.engine)
        self.cart_changes = CartChanges()
        # SQLite has one writer; on PostgreSQL a second group can gather while one commits.
        workers = self.settings.apply_workers or (2 if is_postgres(self.engine) else 1)
        self.applier = Applier(self, workers=workers)
        # SQLite has one writer: this process's own writers take turns here rather than in
        # SQLite's busy handler, which sleeps up to 100 ms at a time.
        self._sqlite_writes = None if is_postgres(self.engine) else asyncio.Lock()
        self.platforms: dict[str, Platform] = {}
        self._platform_of: dict[int, Platform] = {}  # id(plugin) -> the platform it declared
        self._platforms_created = False
        self.sender: ReplySender | None = None
        self.order_placer = OrderPlacer(self)
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = asyncio.Event()
        self.started = False

    def settings_for(self, model: type[SettingsT]) -> SettingsT:
        try:
            found = self._plugin_settings[model]
        except KeyError:
            found = self._plugin_settings[model] = load_settings(model)
        assert isinstance(found, model)
        return found

    @property
    def cart_url(self) -> str:
        return f"{self.settings.public_url}/cart"

    async def start(self) -> None:
        if self.started:
            return
        self.started = True
        self.create_platforms()
        await self.cart_changes.start(self.engine)
        self.products.sources = await self._product_sources()
        self.applier.start()
        self.sender = ReplySender(self, self.platforms)
        self.sender.start()
        self.order_placer.start()
        for platform in self.platforms.values():
            await platform.start()
            log.info("platform %s started", platform.name)
        self.spawn(prune_loop(self.engine, self.settings.retention_days, self._stopping))

    def create_platforms(self) -> None:
        """Ask the plugins for their platforms, once: before the web routes are added, so a
        plugin's routes are handed its platform, or else when hashcart starts."""
        if self._platforms_created:
            return
        self._platforms_created = True
        for plugin, platform in self.plugins.each("hashcart_platform", hashcart=self):
            if platform.name in self.platforms:
                raise ConfigError(f"two plugins declare the platform {platform.name!r}")
            self.platforms[platform.name] = platform
            self._platform_of[id(plugin)] = platform

    def add_web_routes(self, app: web.Application) -> None:
        """The plugins' routes (`hashcart_web_routes`), each handed the platform it declared."""
        self.create_platforms()
        self.plugins.call_each(
            "hashcart_web_routes",
            lambda plugin: {"platform": self._platform_of.get(id(plugin))},
            hashcart=self,
            app=app,
        )

    async def _product_sources(self) -> list[ProductSource]:
        found: list[ProductSource] = []
        for declared in await self.plugins.collect("hashcart_product_sources", hashcart=self):
            for source in declared if isinstance(declared, Sequence) else [declared]:
                if source is None:
                    continue
                if not isinstance(source, ProductSource):
                    raise ConfigError(f"{source!r} is not a hashcart.ProductSource")
                found.append(source)
        return found

    async def stop(self) -> None:
        """Finish the sends in progress, stop the platforms, finish applying, close.

        The reply sender stops first, while the platforms' clients are still open, so a reply
        being sent goes out; replies queued after that wait in the outbox for the next start.
        """
        if not self.started:
            await self.engine.dispose()
            return
        # The order placer first: an order it settles queues an answer for the sender.
        await self.order_placer.stop()
        if self.sender is not None:
            await self.sender.stop()
        for platform in self.platforms.values():
            try:
                await platform.stop()
            except Exception as exc:
                log.warning("platform %s did not stop cleanly: %s", platform.name, exc)
        await self.applier.stop()
        await self.products.close()
        self._stopping.set()  # ends the retention loop
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.cart_changes.stop()
        await self.engine.dispose()
        self.started = False

    async def submit(self, command: CartCommand, *, within: float | None = None) -> Outcome:
        return await self._submit(command, within=within)

    async def _submit(
        self, command: CartCommand, *, after_link: bool = False, within: float | None = None
    ) -> Outcome:
        current_event.set(command.event_key)
        deadline = None if within is None else asyncio.get_running_loop().time() + within
        if within is None:
            prepared = await self._prepare(command)
        else:
            try:
                async with asyncio.timeout(within):
                    prepared = await self._prepare(command)
            except TimeoutError:
                raise Unavailable("command not prepared in time") from None
        prepared.after_link = after_link
        started = time.perf_counter()
        outcome = await self.applier.submit(prepared, deadline=deadline)
        self.metrics.command_seconds.labels(command.platform).observe(time.perf_counter() - started)
        return outcome

    async def _prepare(self, command: CartCommand) -> Prepared:
        """Resolve the product outside the transaction: it may take network calls."""
        if command.action is Action.CONFIRM:
            return Prepared(command, fresh=await self._fresh_cart(command))
        if command.action not in PRODUCT_ACTIONS:
            return Prepared(command)
        ref = command.product
        if ref is None:
            found = await self._reference(command)
            if isinstance(found, Outcome):
                return Prepared(command, early=found)
            ref = found
            command = replace(command, product=ref)
        if command.action is not Action.ADD:
            return Prepared(command)
        try:
            product = await self._look_up(ref)
        except _StoreRefused:
            return Prepared(command, early=Outcome(OutcomeCode.STORE_REFUSED))
        if product is None:
            params = {"product_id": ref.product_id}
            return Prepared(command, early=Outcome(OutcomeCode.UNKNOWN_PRODUCT, params))
        if not product.available:
            params = {"title": product.title, "product_id": product.product_id}
            return Prepared(command, early=Outcome(OutcomeCode.UNAVAILABLE, params))
        return Prepared(command, product=product)

    async def _reference(self, command: CartCommand) -> ProductRef | Outcome:
        """The product `command.reference` names, or the answer saying why there is none."""
        reference = command.reference
        if not reference:
            return Outcome(OutcomeCode.NO_PRODUCT_GIVEN)
        try:
            barcode = parse_barcode(reference)
        except InvalidBarcode:
            return Outcome(OutcomeCode.INVALID_BARCODE, {"reference": reference})
        if barcode is not None:
            try:
                ref = await self.plugins.first(
                    "hashcart_product_from_barcode", barcode=barcode, hashcart=self
                )
            except Exception as exc:
                if is_outage(exc):
                    raise Unavailable(f"barcode lookup failed: {type(exc).__name__}") from exc
                log.warning("barcode lookup for %s failed: %s", barcode.digits, exc)
                return Outcome(OutcomeCode.STORE_REFUSED)
            return ref or Outcome(OutcomeCode.UNKNOWN_PRODUCT, {"barcode": barcode.digits})
        ref = await self._product_from_url(reference.strip())
        if ref is None:
            # Not a product link as it stands: resolving it means asking a shortener out there,
            # which a bot, a denied or rate-limited identity may not make us do (see `policy`).
            try:
                refused = await refusal_before_lookup(command, self)
            except Exception as exc:
                if is_outage(exc):
                    raise Unavailable(f"policy pre-check failed: {type(exc).__name__}") from exc
                raise
            if refused is not None:
                return refused
            ref = await self.resolve_reference(reference)
        return ref or Outcome(OutcomeCode.NOT_A_PRODUCT, {"reference": reference[:200]})

    async def _look_up(self, ref: ProductRef) -> Product | None:
        """`hashcart_lookup_product`; `Unavailable` while the store's API or the catalog is away
        (the command is tried again, never "unknown"), `_StoreRefused` for any other failure."""
        try:
            found: Product | None = await self.plugins.first(
                "hashcart_lookup_product", ref=ref, hashcart=self
            )
        except SourceUnavailable as exc:
            raise Unavailable(f"product source unavailable: {exc.reason}") from exc
        except Exception as exc:
            if is_outage(exc):
                raise Unavailable(f"product lookup failed: {type(exc).__name__}") from exc
            log.warning("product lookup for %s failed: %s", ref.product_id, exc)
            raise _StoreRefused from exc
        return found

    async def _fresh_cart(self, command: CartCommand) -> dict[str, Product | None] | None:
        """The products of the user's cart looked up again (through the TTL cache), so a
        checkout is confirmed at the prices and stock of now; see `Prepared.fresh`."""
        try:
            cart = await self.accounts.cart_of_identity(command.platform, command.user_id)
        except Exception as exc:
            if is_outage(exc):
                raise Unavailable(f"cart lookup failed: {type(exc).__name__}") from exc
            raise
        if not cart or not cart["items"]:
            return None

        async def look_up(item: dict[str, Any]) -> tuple[str, Product | None] | None:
            ref = replace(ProductRef.parse(item["product_id"]), url=item.get("url"))
            try:
                return ref.product_id, await self._look_up(ref)
            except _StoreRefused:
                return None  # left as it is in the cart

        answers = await asyncio.gather(*(look_up(item) for item in cart["items"]))
        return dict(answer for answer in answers if answer is not None)

    async def resolve_reference(self, text: str) -> ProductRef | None:
        try:
            barcode = parse_barcode(text)
        except InvalidBarcode:
            return None
        if barcode is not None:
            found: ProductRef | None = await self.plugins.first(
                "hashcart_product_from_barcode", barcode=barcode, hashcart=self
            )
            return found
        url = text.strip()
        for _ in range(MAX_REDIRECT_HOPS + 1):
            ref = await self._product_from_url(url)
            if ref is not None:
                return ref
            try:
                target: str | None = await self.plugins.first("hashcart_resolve_redirect", url=url)
            except Exception as exc:
                log.warning("hashcart_resolve_redirect raised on %r: %s", url[:200], exc)
                return None
            if not target or target == url:
                return None
            url = target
        return None

    async def _product_from_url(self, url: str) -> ProductRef | None:
        """The product a URL names as it stands (no redirect followed), or None."""
        try:
            ref: ProductRef | None = await self.plugins.first("hashcart_product_from_url", url=url)
        except Exception as exc:  # a plugin must not turn bad input into a crash
            log.warning("hashcart_product_from_url raised on %r: %s", url[:200], exc)
            return None
        return ref

    def after_commit(self, batch: Iterable[Prepared], outcomes: Iterable[Outcome]) -> None:
        """Called by the applier once a group is durable: metrics, observers, the reply sender,
        live updates of the cart pages."""
        batch = list(batch)
        self.cart_changes.changed(item.account_id for item in batch)
        queued = ordered = False
        for item, outcome in zip(batch, outcomes, strict=True):
            if outcome.code is OutcomeCode.DUPLICATE:
                continue
            ordered = ordered or outcome.code is OutcomeCode.ORDER_PENDING
            command = item.command
            self.metrics.commands.labels(
                command.platform, command.action.value, outcome.code.value
            ).inc()
            queued = queued or not outcome.silent
            if self.plugins.implemented("hashcart_command_done"):
                self.spawn(self._observe(command, outcome))
        if queued and self.sender is not None:
            self.sender.wake()
        if ordered:
            self.order_placer.wake()

    async def _observe(self, command: CartCommand, outcome: Outcome) -> None:
        try:
            await self.plugins.collect("hashcart_command_done", command=command, outcome=outcome)
        except Exception as exc:
            log.warning("hashcart_command_done failed for %s: %s", command.event_key, exc)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def link_identity(
        self, account_id: str, platform: str, user_id: str, user_name: str | None = None
    ) -> list[Outcome]:
        """Link an identity to an account and apply the adds it left pending before linking."""
        waiting = await self.accounts.link(account_id, platform, user_id, user_name)
        self.cart_changes.changed([account_id])
        return [
            await self._submit(
                replace(command, event_id=f"{command.event_id}:linked"), after_link=True
            )
            for command in waiting
        ]

    def writing(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Hold while writing in the hot paths (applier, reply sender); a no-op on PostgreSQL."""
        return self._sqlite_writes or contextlib.nullcontext()

    def translate(self, locale: str | None, msgid: str, **params: Any) -> str:
        # Texts that name how long something lasts read it from the settings.
        window = minutes(locale, self.settings.link_token_minutes)
        return translate(
            locale, msgid, **{"link_lifetime": window, "confirm_window": window, **params}
        )

    def money(self, cents: int, currency: str, locale: str | None) -> str:
        return money(cents, currency, locale)

    def count_platform_error(self, platform: str, kind: str) -> None:
        self.metrics.platform_errors.labels(platform, kind).inc()

    def count_platform_event(self, platform: str, kind: str, amount: int = 1) -> None:
        self.metrics.platform_events.labels(platform, kind).inc(amount)

    async def standing_states(self, prefix: str) -> list[str]:
        return await standing(self.engine, prefix)


if TYPE_CHECKING:
    from hashcart.host import Host

    # mypy proves here that `Hashcart` keeps every promise `hashcart.Host` makes to plugins.
    def _as_host(hashcart: Hashcart) -> Host:
        return hashcart
