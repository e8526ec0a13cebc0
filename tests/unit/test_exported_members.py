from __future__ import annotations

import importlib

import pytest

PUBLIC_MODULES = ["videopipe"]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    """Every public namespace lists exactly what it exports, sorted, so the API is explicit."""
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    public = {n for n in vars(module) if not n.startswith("_")}
    submodules = {n for n, v in vars(module).items() if type(v).__name__ == "module"}
    assert set(exported) == public - submodules - {"annotations", "Any"}
    for member in exported:
        assert getattr(module, member) is not None


def test_version_comes_from_the_installed_metadata() -> None:
    """`__version__` is read lazily from the package metadata, not hard-coded in two places."""
    from importlib.metadata import version

    import videopipe

    assert videopipe.__version__ == version("videopipe")


def test_unknown_attribute_raises_attribute_error() -> None:
    import videopipe

    with pytest.raises(AttributeError, match="no_such_thing"):
        videopipe.no_such_thing  # noqa: B018
