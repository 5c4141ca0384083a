"""Prometheus metrics, one registry per `Hashcart` so tests and several apps do not collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "hashcart_commands",
            "Commands applied, by platform, action and outcome.",
            ["platform", "action", "outcome"],
            registry=self.registry,
        )
        self.command_seconds = Histogram(
            "hashcart_command_seconds",
            "Time from submit to commit of a command.",
            ["platform"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.replies_sent = Counter(
            "hashcart_replies_sent", "Replies delivered to a platform.", registry=self.registry
        )
        self.platform_errors = Counter(
            "hashcart_platform_errors",
            "Errors from platform APIs, by platform and kind.",
            ["platform", "kind"],
            registry=self.registry,
        )
        self.platform_events = Counter(
            "hashcart_platform_events",
            "Things a platform plugin did that operators watch (not errors), by platform and kind.",
            ["platform", "kind"],
            registry=self.registry,
        )
        self.source_fetches = Counter(
            "hashcart_product_source_fetches",
            "Calls to live product sources, by source and outcome (ok, unavailable, error).",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "hashcart_outbox_depth", "Replies waiting to be sent.", registry=self.registry
        )
        self.outbox_oldest_age = Gauge(
            "hashcart_outbox_oldest_age_seconds",
            "Age of the oldest reply waiting to be sent.",
            registry=self.registry,
        )
