from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from tests.conftest import cache_lock

ROOT = Path(__file__).resolve().parents[2]


def _load_make_media() -> ModuleType:
    """Import `scripts/make_media.py` (a script, not a package) by path."""
    name = "videopipe_make_media"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "make_media.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


make_media = _load_make_media()


@pytest.fixture(scope="session")
def media(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The generated fixtures by file name, made once and cached across runs.

    They live in pytest's cache directory under the generator's hash, so a changed
    generator regenerates them; without the cache plugin, in a session temp dir.
    """
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return make_media.make_all(tmp_path_factory.mktemp("media"))
    out = cache.mkdir(f"videopipe-media-{make_media.script_hash()}")
    with cache_lock(out):
        for stale in out.parent.glob("videopipe-media-*"):
            if stale != out:
                shutil.rmtree(stale, ignore_errors=True)
        return make_media.make_all(out)
