"""Pages speak the visitor's language: the account's own choice, else `Accept-Language`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hashcart.i18n import moment
from hashcart.testing import RunningHashcart, running_hashcart
from hashcart.web.pages import environment, page_locale, preferred_locale
from tests.core.fakes import FakePlatform, FakePlatformPlugin
from tests.web.visitor import Visitor, link_token

ECHO = "https://www.amazon.com/dp/B00X4WHP5E"


@pytest.fixture
async def site() -> AsyncIterator[RunningHashcart]:
    env = {"HASHCART_SESSION_SECRET": "s" * 32, "HASHCART_LINK_TOKEN_MINUTES": "20"}
    async with running_hashcart(plugins=[FakePlatformPlugin(FakePlatform())], env=env) as hc:
        await hc.add_product("amazon:B00X4WHP5E", title="Echo Dot", price_cents=4999)
        yield hc


@pytest.fixture
async def german(site: RunningHashcart) -> AsyncIterator[Visitor]:
    visitor = Visitor(site.url, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    yield visitor
    await visitor.close()


async def test_pages_in_german_for_a_german_browser(site: RunningHashcart, german: Visitor) -> None:
    signin = await german.get("/signin")
    assert '<html lang="de">' in signin.text
    assert "Melde dich bei deinem Warenkorb an" in signin.text
    assert "Konto anlegen" in signin.text

    await german.sign_up("greta")
    token = await link_token(site, "u-greta", "e1", ECHO)
    link = await german.get(f"/link/{token}")
    assert "Mit deinem Warenkorb verknüpfen" in link.text
    assert "Angemeldet als <strong>greta</strong>" in link.text
    # The link's lifetime comes from the setting, in the page's language.
    assert "Dieser Link funktioniert einmal, 20 Minuten lang." in link.text
    assert "auch der 1 Artikel, den du vor dem Verknüpfen hinzugefügt hast" in link.text

    await german.post(f"/link/{token}", {})
    used = await german.get(f"/link/{token}")
    assert used.status == 410 and "<h1>Link abgelaufen</h1>" in used.text
    assert "schon benutzt oder ist älter als 20 Minuten" in used.text
    cart = await german.get("/cart?done=linked")
    assert "<h1>Dein Warenkorb</h1>" in cart.text
    assert "Verknüpft. Was du auf dieser Plattform hinzufügst" in cart.text
    assert "Echo Dot" in cart.text and "Summe" in cart.text and "Your cart" not in cart.text


async def test_an_english_browser_and_no_header_get_english(site: RunningHashcart) -> None:
    for headers in ({"Accept-Language": "fr-FR, en;q=0.8, de;q=0.5"}, {}):
        visitor = Visitor(site.url, headers=headers)
        try:
            page = await visitor.get("/signin")
        finally:
            await visitor.close()
        assert '<html lang="en">' in page.text and "Sign in to your cart" in page.text


def test_the_best_catalog_for_accept_language() -> None:
    assert preferred_locale("de-AT") == "de"
    assert preferred_locale("fr, de;q=0.4, en;q=0.9") == "en"
    assert preferred_locale("en;q=0.1, de") == "de"
    assert preferred_locale("fr, *;q=0.5") is None
    assert preferred_locale("de;q=0, en") == "en"
    assert preferred_locale("de;q=zero") is None
    assert preferred_locale(None) is None


def test_the_account_language_wins_over_the_browser() -> None:
    assert page_locale({"language": "en"}, "de") == "en"
    assert page_locale({"language": "de"}, "en") == "de"
    assert page_locale({"language": None}, "de") == "de"
    assert page_locale(None, None) == "en"


async def test_errors_and_message_pages_in_german(site: RunningHashcart, german: Visitor) -> None:
    await german.get("/signin")
    refused = await german.post("/signin", {"name": "nobody", "password": "wrong password"})
    assert refused.status == 401
    assert "Kontoname und Passwort passen nicht zusammen." in refused.text
    short = await german.post("/signup", {"name": "greta", "password": "kurz"})
    assert "Wähle ein Passwort mit mindestens 8 Zeichen." in short.text
    forged = await german.post("/signin", {"name": "x", "password": "y"}, csrf="forged")
    assert forged.status == 403
    assert "<h1>Dieses Formular ist abgelaufen</h1>" in forged.text


async def test_the_language_chosen_on_the_cart_page_wins_over_the_browser(
    site: RunningHashcart, german: Visitor
) -> None:
    await german.sign_up("greta")
    assert "<h1>Dein Warenkorb</h1>" in (await german.get("/cart")).text
    saved = await german.post("/cart/language", {"language": "en"})
    assert saved.headers["Location"] == "/cart?done=language"
    cart = await german.get("/cart?done=language")
    assert '<html lang="en">' in cart.text and "<h1>Your cart</h1>" in cart.text
    assert "Language saved: the bot answers you in English." in cart.text
    await german.post("/cart/language", {"language": "auto"})
    cart = await german.get("/cart?done=language")
    assert "<h1>Dein Warenkorb</h1>" in cart.text
    assert "Sprache gespeichert" in cart.text


def test_page_texts_escape_what_they_are_given_and_keep_their_own_markup() -> None:
    template = environment("de").from_string(
        '{{ _("web.nav.signed_in_as", name=name) }}|{{ _(plain) }}'
    )
    rendered = template.render(name="<b>x</b>", plain="<script>alert(1)</script>")
    assert rendered == (
        "Angemeldet als <strong>&lt;b&gt;x&lt;/b&gt;</strong>|&lt;script&gt;alert(1)&lt;/script&gt;"
    )


def test_dates_on_the_cart_page_are_written_the_way_the_locale_writes_them() -> None:
    assert moment(1796406182, "de") == "04.12.2026, 17:43:02 UTC"
    assert moment(1796406182, None).startswith("Dec 4, 2026, 5:43:02")
    assert moment(1796406182, "no such locale") == moment(1796406182, "en")
