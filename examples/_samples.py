"""Sample videos for the examples: generated with FFmpeg (and espeak-ng speech) on first use."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def samples(out_dir: Path | None = None) -> dict[str, Path]:
    """Generate (once) and return the sample videos by file name, e.g. `cuts.mp4`.

    They go to `$VIDEOPIPE_SAMPLES`, or `data/samples` in the repository.
    """
    if out_dir is None:
        out_dir = Path(os.environ.get("VIDEOPIPE_SAMPLES") or ROOT / "data" / "samples")
    spec = importlib.util.spec_from_file_location("make_media", ROOT / "scripts" / "make_media.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_media", module)
    spec.loader.exec_module(module)
    made: dict[str, Path] = module.make_all(out_dir)
    return made
