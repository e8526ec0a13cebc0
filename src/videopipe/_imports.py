"""Imports and exports: lazy optional dependencies, and public names' home namespace.

An optional dependency that is missing fails with the `pip install` line that
fixes it; a public name shows under the namespace users import it from.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from ._exceptions import MissingDependency

__all__ = ["public", "quiet_tqdm_import", "require"]


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


@contextmanager
def quiet_tqdm_import() -> Iterator[None]:
    """Import a dependency that imports `tqdm.auto` without tqdm's "IProgress not found" warning.

    PySceneDetect and faster-whisper import `tqdm.auto` when they are imported.
    In a Jupyter kernel without ipywidgets that prints `TqdmWarning: IProgress
    not found` under the cell, although videopipe never shows their bars.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        yield
