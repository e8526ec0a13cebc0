"""Imports and exports: lazy optional dependencies, and public names' home namespace.

An optional dependency that is missing fails with the `pip install` line that
fixes it; a public name shows under the namespace users import it from.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any

from ._exceptions import MissingDependency

__all__ = ["public", "require"]


def public(namespace: dict[str, Any], module: str) -> None:
    """Show the classes and functions of `namespace["__all__"]` as `module.Name`.

    So reprs, tracebacks and the API reference say `videopipe.NotFound`, not
    `videopipe._exceptions.NotFound` (as httpx does for its names).
    """
    for name in namespace["__all__"]:
        value = namespace[name]
        if isinstance(value, type) or inspect.isfunction(value):
            value.__module__ = module


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
