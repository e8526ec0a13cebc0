"""The provider registry: a third-party provider is chosen by name, without editing videopipe."""

from __future__ import annotations

import pydantic
import pytest

import videopipe as vp
from videopipe.providers import register_provider
from videopipe.testing import FakeProvider


def test_a_registered_provider_is_chosen_by_its_name() -> None:
    made = FakeProvider()
    seen: list[vp.Settings] = []

    def factory(settings: vp.Settings) -> FakeProvider:
        seen.append(settings)
        return made

    register_provider("fake-cloud", factory)
    settings = vp.Settings(provider="fake-cloud")
    assert vp.default_provider(settings) is made
    assert seen == [settings]


def test_an_unknown_name_says_which_names_exist() -> None:
    with pytest.raises(
        vp.ConfigurationError, match=r"'nosuch'.*known are auto, local, none, openai"
    ):
        vp.default_provider(vp.Settings(provider="nosuch"))


def test_auto_and_none_cannot_be_registered() -> None:
    for name in ("auto", "none"):
        with pytest.raises(vp.ConfigurationError, match="reserved"):
            register_provider(name, lambda settings: FakeProvider())


def test_a_provider_name_is_a_plain_word() -> None:
    with pytest.raises(pydantic.ValidationError):
        vp.Settings(provider="Open AI!")


def test_prices_are_a_declared_capability() -> None:
    """Estimates price a provider only when it says it has prices (the `Priced` protocol)."""
    from videopipe.providers import OpenAIProvider, Priced

    assert isinstance(OpenAIProvider(api_key="sk-test"), Priced)
    assert not isinstance(FakeProvider(), Priced)
