from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC_MODULES = [
    "videopipe",
    "videopipe.providers",
    "videopipe.ray",
    "videopipe.stages",
    "videopipe.storage",
    "videopipe.testing",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    """Every public namespace lists what it defines, once (ruff's RUF022 keeps it sorted)."""
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    for member in exported:
        assert getattr(module, member) is not None, member
    ours = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(v) or inspect.isfunction(v))
        and getattr(v, "__module__", "").startswith(name)
    }
    assert ours <= set(exported), ours - set(exported)


@pytest.mark.parametrize(
    "name",
    ["videopipe", "videopipe.providers", "videopipe.ray", "videopipe.stages", "videopipe.storage"],
)
def test_public_names_show_under_their_namespace(name: str) -> None:
    """`videopipe.NotFound` in reprs, tracebacks and the docs, not `videopipe._exceptions...`.

    A name exported at the top too (`Store`, `open_store`) shows as `videopipe.X`.
    """
    import videopipe

    module = importlib.import_module(name)
    shown = {
        member: getattr(module, member).__module__
        for member in module.__all__
        if inspect.isclass(getattr(module, member)) or inspect.isfunction(getattr(module, member))
    }
    assert shown
    expected = {m: "videopipe" if m in videopipe.__all__ else name for m in shown}
    assert shown == expected


def test_version_comes_from_the_installed_metadata() -> None:
    """`__version__` is read lazily from the package metadata, not hard-coded in two places."""
    from importlib.metadata import version

    import videopipe

    assert videopipe.__version__ == version("videopipe")


def test_unknown_attribute_raises_attribute_error() -> None:
    import videopipe

    with pytest.raises(AttributeError, match="no_such_thing"):
        videopipe.no_such_thing  # noqa: B018
