"""The tables of the one cart backend. Times are epoch seconds (floats) on every database."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("dm_only", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("locale", sa.String(16)),
    # Chosen by the person (`/cart language`, the cart page); wins over any platform's locale.
    sa.Column("language", sa.String(35)),
    sa.Column("created_at", sa.Float, nullable=False),
    # Raised to end every web session of the account (sign-out everywhere, new password).
    sa.Column("session_version", sa.Integer, nullable=False, server_default="0"),
)

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column(
        "account_id",
        sa.String(32),
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("user_name", sa.String(100)),
    sa.Column("created_at", sa.Float, nullable=False),
)

link_tokens = sa.Table(
    "link_tokens",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("user_name", sa.String(100)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("product_id", sa.String(128), primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("available", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("barcode", sa.String(13), unique=True),
    # Rows a live source fetched: its name and when; operator rows have neither.
    sa.Column("source", sa.String(64)),
    sa.Column("fetched_at", sa.Float),
    sa.Column("image_url", sa.String(1000)),
    sa.Column("url", sa.String(1000)),
)

cart_items = sa.Table(
    "cart_items",
    metadata,
    sa.Column(
        "account_id",
        sa.String(32),
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("product_id", sa.String(128), primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("added_via", sa.String(32), nullable=False),
    sa.Column("added_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # The product's page (its store's marketplace or variant: what a hand-off needs), its image,
    # and when a live source gave the price (operator prices have none: they are always current).
    sa.Column("url", sa.String(1000)),
    sa.Column("image_url", sa.String(1000)),
    sa.Column("priced_at", sa.Float),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_key", sa.String(200), nullable=False, unique=True),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(64)),
    sa.Column("account_id", sa.String(32), index=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("product_id", sa.String(128)),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("detail", sa.String(500)),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_key", sa.String(200), nullable=False, index=True),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("recipient", sa.String(64), nullable=False),
    sa.Column("target", sa.JSON, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("extra", sa.JSON, nullable=False),
    sa.Column("outcome", sa.JSON, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("lease_until", sa.Float),
    sa.Column("last_error", sa.String(500)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_outbox_recipient", "platform", "recipient", "status", "id"),
)

pending_commands = sa.Table(
    "pending_commands",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("command", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_pending_identity", "platform", "user_id"),
)

rate_counters = sa.Table(
    "rate_counters",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("window_start", sa.Integer, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)

#: Web sign-in attempts per typed account name and per client address: counted before the
#: password is checked; past the window's allowance each further attempt waits until `next_at`.
web_signin_limits = sa.Table(
    "web_signin_limits",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("window_start", sa.Integer, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("next_at", sa.Float, nullable=False),
)

plugin_kv = sa.Table(
    "plugin_kv",
    metadata,
    sa.Column("namespace", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("expires_at", sa.Float),
)

web_logins = sa.Table(
    "web_logins",
    metadata,
    sa.Column(
        "account_id",
        sa.String(32),
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "account_id",
        sa.String(32),
        sa.ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("total_cents", sa.Integer, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("store_reference", sa.String(200)),
    sa.Column("event_key", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    # pending → placed | refused; a pending order is claimed with a lease by one node at a time.
    sa.Column("status", sa.String(12), nullable=False, server_default="placed"),
    sa.Column("command", sa.JSON),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float),
    sa.Column("lease_until", sa.Float),
    sa.Column("last_error", sa.String(500)),
    sa.Column("settled_at", sa.Float),
    sa.Index("ix_orders_due", "status", "next_attempt_at"),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

command_states = sa.Table(
    "command_states",
    metadata,
    sa.Column("state_key", sa.String(200), primary_key=True),
    sa.Column("present", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False, index=True),
)
