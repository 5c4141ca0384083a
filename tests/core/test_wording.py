"""One source of wording: compiled catalogs, plurals, per-platform commands, durations."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from babel.messages.mofile import read_mo

from hashcart import Action, CartCommand, CartLine, Outcome, OutcomeCode, ReplyTarget
from hashcart.app import Hashcart
from hashcart.config import Settings
from hashcart.i18n import available_locales, compile_po, compiled, load, minutes, translate
from hashcart_discord.wording import format_reply as discord_reply
from hashcart_slack.blocks import format_reply as slack_reply
from hashcart_twitter.wording import format_reply as x_reply


@pytest.fixture
def hashcart() -> Iterator[Hashcart]:
    yield Hashcart(
        Settings(database_url="sqlite+aiosqlite:///:memory:", link_token_minutes=30),
        load_entry_points=False,
    )


def command(platform: str) -> CartCommand:
    return CartCommand(platform, "u1", Action.CHECKOUT, "e1", ReplyTarget(platform, "u1"))


def test_plural_forms_in_english_and_german() -> None:
    assert translate("en", "reply.order_placed", count=1, total="$5") == (
        "Order placed: 1 item for $5. Your cart is empty now."
    )
    assert translate("en", "reply.order_placed", count=3, total="$5").startswith(
        "Order placed: 3 items"
    )
    assert translate("de", "reply.order_refused", count=1, total="5 €").endswith(
        "er liegt wieder in deinem Warenkorb."
    )
    assert translate("de", "reply.order_refused", count=2, total="5 €").endswith(
        "sie liegen wieder in deinem Warenkorb."
    )
    assert translate("en", "reply.rate_limited", minutes=1).endswith("in 1 minute.")
    assert translate("de", "reply.rate_limited", minutes=1).endswith("in 1 Minute noch einmal.")
    assert translate("de", "reply.rate_limited", minutes=5).endswith("in 5 Minuten noch einmal.")
    assert [minutes("de-AT", n) for n in (1, 2)] == ["1 Minute", "2 Minuten"]
    assert minutes("xx", 0) == "0 minutes"


def test_every_catalog_declares_its_plural_forms() -> None:
    for locale in available_locales():
        catalog = load(locale)
        assert catalog is not None
        assert catalog.info().get("plural-forms") == "nplurals=2; plural=(n != 1);", locale


def test_compiled_catalogs_are_up_to_date_with_their_sources() -> None:
    """`make install` compiles them (a `.mo` older than its `.po` is not used in any case)."""
    for locale in available_locales():
        if not compiled(locale).is_file():
            continue  # compiled in memory on first use
        with compiled(locale).open("rb") as handle:
            on_disk = _messages(handle)
        fresh = _messages(io.BytesIO(compile_po(locale)))
        assert on_disk == fresh, f"{compiled(locale).name} is stale: run `make install`"


def test_a_catalog_without_a_compiled_file_compiles_in_memory(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashcart.i18n as catalogs

    (tmp_path / "de.po").write_bytes(catalogs.source("de").read_bytes())
    monkeypatch.setattr(catalogs, "CATALOG_DIR", tmp_path)
    loaded = catalogs.load("de")
    assert loaded is not None
    assert loaded.gettext("reply.cart_empty") == "Dein Warenkorb ist leer."
    assert not (tmp_path / "de.mo").exists()


def test_durations_follow_the_setting(hashcart: Hashcart) -> None:
    asked = hashcart.translate("en", "reply.forget_asked")
    assert "Send /cart forget confirm within 30 minutes to go ahead." in asked
    assert "(30 Minuten gültig)" in hashcart.translate("de", "reply.link_sent", link_url="x")
    assert "mehr als 30 Minuten" in hashcart.translate("de", "reply.confirm_expired")
    hashcart.settings = hashcart.settings.model_copy(update={"link_token_minutes": 1})
    assert "within 1 minute to add it" in hashcart.translate(
        "en", "reply.confirm_add", quantity=2, title="Mug", total="$9"
    )


def test_x_and_discord_name_their_own_confirm_commands(hashcart: Hashcart) -> None:
    asked = Outcome(OutcomeCode.CHECKOUT_ASKED, {"lines": "1× Mug", "total": "$9"})
    on_x = x_reply(command("twitter"), asked, "en", hashcart, "hashcartbot")
    assert on_x is not None
    assert "Send @hashcartbot #confirm within 30 minutes" in on_x.text

    forget = Outcome(OutcomeCode.FORGET_ASKED)
    x_forget = x_reply(command("twitter"), forget, "de", hashcart, None)
    assert x_forget is not None and "#amazoncart forget confirm, um" in x_forget.text
    on_discord = discord_reply(command("discord"), forget, "en", hashcart)
    assert on_discord is not None
    assert "Send /cart forget confirm: True within 30 minutes" in on_discord.text
    assert "/cart" not in x_forget.text


def test_a_slack_cart_in_german(hashcart: Hashcart) -> None:
    lines = tuple(
        CartLine(
            product_id=f"amazon:{i}",
            title=f"Mug {i}",
            quantity=1,
            price_cents=500,
            currency="EUR",
            url="https://www.amazon.de/dp/x",
        )
        for i in range(2)
    )
    listed = Outcome(OutcomeCode.LISTED, {"lines": "…", "total": "10 €", "handoff": ""}, cart=lines)
    answer = slack_reply(command("slack"), listed, "de-DE", hashcart)
    assert answer is not None
    sections = [b["text"]["text"] for b in answer.extra["blocks"] if b["type"] == "section"]
    assert sections[0] == "*Dein Warenkorb*"
    assert sections[-1] == "*Summe* (2 Artikel): *10,00\xa0€*"
    (button,) = [e for b in answer.extra["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["text"]["text"] == "Warenkorb ansehen"
    assert answer.text.startswith("Dein Warenkorb: …")

    one = Outcome(OutcomeCode.LISTED, {"lines": "…", "total": "5 €", "handoff": ""}, cart=lines[:1])
    english = slack_reply(command("slack"), one, "en", hashcart)
    assert english is not None
    sections = [b["text"]["text"] for b in english.extra["blocks"] if b["type"] == "section"]
    assert sections[-1] == "*Total* (1 item): *€5.00*"


def _messages(mo: Any) -> set[tuple[str, str]]:
    return {(repr(m.id), repr(m.string)) for m in read_mo(mo) if m.id}
