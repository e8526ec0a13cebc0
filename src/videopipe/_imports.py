"""Lazy imports of optional dependencies, failing with the `pip install` line that fixes them."""

from __future__ import annotations

import importlib
from types import ModuleType

from ._exceptions import MissingDependency

__all__ = ["require"]


def require(module: str, *, package: str, extra: str, feature: str) -> ModuleType:
    """Import `module`, or raise `MissingDependency` naming `pip install 'videopipe[extra]'`.

    Args:
        module: The module to import, such as `"psycopg"`.
        package: The distribution that provides it, such as `"psycopg"`.
        extra: The videopipe extra that installs it, such as `"postgres"`.
        feature: What needs it, for the message, such as `"PostgresStore"`.

    Returns:
        The imported module.

    Raises:
        MissingDependency: The module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # the package is there but one of *its* imports is broken: show that
        raise MissingDependency(package, extra=extra, feature=feature) from exc
