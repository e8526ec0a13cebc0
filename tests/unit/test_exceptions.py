from __future__ import annotations

import pickle

import pytest

import videopipe as vp
from videopipe._imports import require


def test_every_error_derives_from_the_single_root() -> None:
    """Users can catch everything videopipe raises with one `except VideopipeError`."""
    errors = [getattr(vp, n) for n in vp.__all__ if n.endswith(("Error", "Exceeded"))]
    errors += [vp.Cancelled, vp.MissingDependency, vp.StoreClosed, vp.RateLimited, vp.NotFound]
    for cls in errors:
        assert issubclass(cls, vp.VideopipeError), cls


def test_builtin_bases_let_users_catch_the_natural_builtin() -> None:
    assert issubclass(vp.ConfigurationError, ValueError)
    assert issubclass(vp.MissingDependency, ImportError)
    assert issubclass(vp.InputNotFound, FileNotFoundError)
    assert issubclass(vp.ProviderTimeout, TimeoutError)
    assert issubclass(vp.NotFound, KeyError)


def test_bare_raise_explains_itself_with_the_docstring() -> None:
    with pytest.raises(vp.StoreClosed, match="open a new one with `open_store\\(\\)`"):
        raise vp.StoreClosed
    assert "FFmpeg not found" in str(vp.FFmpegNotFound())
    assert str(vp.NotFound("video 'x' not found")) == "video 'x' not found"


def test_structured_fields_survive_pickling() -> None:
    """Errors cross process boundaries (worker pools); their keyword fields must survive."""
    err = vp.StageError("scenes failed", stage="scenes", item_key="vid1")
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), str(back), back.stage, back.item_key) == (
        vp.StageError,
        "scenes failed",
        "scenes",
        "vid1",
    )
    limited = pickle.loads(pickle.dumps(vp.RateLimited(retry_after=2.5)))
    assert limited.retry_after == 2.5
    assert limited.status_code == 429
    media = pickle.loads(pickle.dumps(vp.NotAVideo(path="/tmp/x.mp4")))
    assert media.path == "/tmp/x.mp4"


def test_missing_dependency_names_the_exact_pip_line() -> None:
    with pytest.raises(vp.MissingDependency) as info:
        require(
            "videopipe_no_such_module", package="nosuch", extra="postgres", feature="PostgresStore"
        )
    assert "pip install 'videopipe[postgres]'" in str(info.value)
    assert "PostgresStore" in str(info.value)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_require_returns_the_module_when_installed() -> None:
    import json

    assert require("json", package="json", extra="x", feature="y") is json
