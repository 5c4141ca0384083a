"""The command model, the text helpers plugins share, the message catalogs and the settings."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hashcart import (
    Action,
    CartCommand,
    ConfigError,
    Outcome,
    OutcomeCode,
    ProductRef,
    ReplyTarget,
    extract_urls,
    has_hashtag,
    is_safe_url,
)
from hashcart.config import Settings, load_settings
from hashcart.i18n import available_locales, message_ids, translate


def test_command_is_frozen_and_round_trips():
    target = ReplyTarget("x", user="1", channel="99", extra={"screen_name": "alice"})
    command = CartCommand(
        "x", "1", Action.ADD, "99", target, product=ProductRef("shop", "A1", "https://s/A1"),
        quantity=2, locale="de",
    )  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.quantity = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        target.extra["screen_name"] = "mallory"  # type: ignore[index]
    assert CartCommand.from_json(command.to_json()) == command
    assert command.event_key == "x:99"


@pytest.mark.parametrize(
    "kwargs", [{"quantity": 0}, {"event_id": ""}, {"user_id": ""}, {"action": "buy"}]
)
def test_command_rejects_nonsense(kwargs: dict[str, object]):
    base: dict[str, object] = {
        "platform": "x", "user_id": "1", "action": "add", "event_id": "e",
        "reply_to": ReplyTarget("x", "1"),
    }  # fmt: skip
    with pytest.raises(ValueError):
        CartCommand(**{**base, **kwargs})  # type: ignore[arg-type]


def test_outcome_round_trips():
    outcome = Outcome(OutcomeCode.ADDED, {"title": "Mug", "quantity": 2})
    assert Outcome.from_json(outcome.to_json()) == outcome and outcome.ok
    assert not Outcome(OutcomeCode.UNKNOWN_PRODUCT).ok


def test_product_id_parsing():
    assert ProductRef.parse("amazon:B00X4WHP5E") == ProductRef("amazon", "B00X4WHP5E")
    for bad in ("amazon", ":x", "amazon:"):
        with pytest.raises(ValueError):
            ProductRef.parse(bad)


def test_extract_urls_handles_slack_brackets_and_punctuation():
    text = "look <https://a.test/x|label> and https://b.test/y), also https://a.test/x."
    assert extract_urls(text) == ["https://a.test/x", "https://b.test/y"]


@given(st.text())
def test_text_helpers_never_raise(text: str):
    for url in extract_urls(text):
        assert url.lower().startswith("http")
    has_hashtag(text, "amazoncart")
    is_safe_url(text)


def test_hashtag_matching():
    assert has_hashtag("want this #AmazonCart!", "amazoncart")
    assert has_hashtag("#amazoncart", "amazoncart")
    assert not has_hashtag("#amazoncarts", "amazoncart")
    assert not has_hashtag("amazoncart", "amazoncart")
    assert not has_hashtag("x##amazoncart", "amazoncart")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "https://www.amazon.com@evil.test/dp/B00X4WHP5E",
        "https://аmazon.com/dp/B00X4WHP5E",
        "https://xn--mazon-3ve.com/dp/B00X4WHP5E",
        "https://127.0.0.1/dp/B00X4WHP5E",
        "https://amazon.com:8443/dp/B00X4WHP5E",
        "https://amazon.com/dp/B00X4WHP5E?" + "a" * 10_000,
        "ftp://amazon.com/x",
        "https://",
        "https://[::1]/x",
    ],
)
def test_hostile_urls_are_unsafe(url: str):
    assert not is_safe_url(url)


def test_plain_urls_are_safe():
    assert is_safe_url("https://www.amazon.co.uk/dp/B00X4WHP5E?tag=x")


def test_every_outcome_has_a_sentence_in_every_language():
    wanted = {f"reply.{code.value}" for code in OutcomeCode}
    assert wanted <= message_ids("en")
    assert len(available_locales()) >= 2
    for locale in available_locales():
        assert message_ids(locale) == message_ids("en"), locale


def test_translation_picks_language_and_falls_back():
    assert translate("de-DE", "reply.cart_empty") == "Dein Warenkorb ist leer."
    assert translate("de_AT", "reply.cart_empty") == "Dein Warenkorb ist leer."
    assert translate("xx", "reply.cart_empty") == "Your cart is empty."
    assert translate(None, "reply.added", title="Mug").startswith("Added Mug")
    # An unknown placeholder stays visible rather than failing the reply.
    assert "{cart_url}" in translate("en", "reply.added", title="Mug")


def test_settings_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HASHCART_PORT", "99999")
    with pytest.raises(ConfigError, match=r"^HASHCART_PORT: "):
        load_settings(Settings)
    monkeypatch.setenv("HASHCART_PORT", "8081")
    monkeypatch.setenv("HASHCART_PUBLIC_URL", "ftp://x")
    with pytest.raises(ConfigError, match=r"^HASHCART_PUBLIC_URL: "):
        load_settings(Settings)
    monkeypatch.delenv("HASHCART_PUBLIC_URL")
    settings = load_settings(Settings)
    assert settings.public_url == "http://127.0.0.1:8081"
    monkeypatch.setenv("HASHCART_LOAD_PLUGINS", "")
    assert load_settings(Settings).plugin_allow_list() == set()


def test_plugin_settings_read_the_toml_file_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path
):
    from pydantic_settings import SettingsConfigDict

    from hashcart import PluginSettings

    class ShopSettings(PluginSettings):
        model_config = SettingsConfigDict(env_prefix="HASHCART_SHOP_")
        api_key: str = ""
        timeout: float = 3.0

    toml = tmp_path / "hashcart.toml"
    toml.write_text('shop_api_key = "from-file"\nshop_timeout = 9\nport = 1\n')
    monkeypatch.setenv("HASHCART_CONFIG", str(toml))
    monkeypatch.delenv("HASHCART_SHOP_API_KEY", raising=False)
    loaded = load_settings(ShopSettings)
    assert (loaded.api_key, loaded.timeout) == ("from-file", 9.0)
    monkeypatch.setenv("HASHCART_SHOP_API_KEY", "from-env")
    assert load_settings(ShopSettings).api_key == "from-env"
