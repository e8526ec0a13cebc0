"""videopipe's numpy phash equals `imagehash.phash` bit for bit, so imagehash and scipy can go.

Stored hashes (`frames.phash`) and duplicate marking must not change with the
implementation: a store written before keeps resuming and deduplicating the same.
"""

from __future__ import annotations

from pathlib import Path

import av
import imagehash
import numpy as np
import pytest
from PIL import Image

from videopipe._media import phash

VIDEOS = ["cuts.mp4", "fades.mp4", "slides.mp4", "repeated.mp4", "portrait.mp4", "vfr.mp4"]


def frames_of(path: Path, every: int) -> list[Image.Image]:
    with av.open(str(path)) as container:
        return [f.to_image() for i, f in enumerate(container.decode(video=0)) if i % every == 0]


def synthetic() -> list[tuple[str, Image.Image]]:
    """The frames where a matrix-product DCT drifts from scipy's FFT: flat and evenly graded."""
    made = []
    for value in (0, 1, 16, 128, 255):
        made.append((f"grey {value}", Image.new("L", (320, 180), value)))
        made.append(
            (f"colour {value}", Image.new("RGB", (640, 360), (value, value // 2, 255 - value)))
        )
    ramp = np.tile(np.linspace(0, 255, 200), (100, 1)).astype(np.uint8)
    for shift in range(0, 150, 7):
        made.append((f"horizontal ramp {shift}", Image.fromarray(np.roll(ramp, shift, axis=1))))
        made.append((f"vertical ramp {shift}", Image.fromarray(np.roll(ramp.T, shift, axis=0))))
    rng = np.random.default_rng(18)
    for i in range(60):
        pixels = rng.integers(0, 256, (90 + i, 160, 3), dtype=np.uint8)
        made.append((f"noise {i}", Image.fromarray(pixels)))
    for step in range(1, 9):
        board = (np.indices((64, 64)).sum(0) // step % 2 * 255).astype(np.uint8)
        made.append((f"checkerboard {step}", Image.fromarray(board)))
    return made


@pytest.mark.timeout(120)
def test_phash_equals_imagehash_on_real_and_synthetic_frames(media, tmp_path: Path) -> None:
    images = [
        (f"{name} #{i}", image)
        for name in VIDEOS
        for i, image in enumerate(frames_of(media[name], every=3))
    ]
    images += synthetic()
    assert len(images) > 300
    differ = []
    for i, (label, image) in enumerate(images):
        path = tmp_path / f"{i}.png"  # lossless: both hash the same pixels
        image.save(path, compress_level=1)  # fast; still lossless
        expected = str(imagehash.phash(image))
        if phash(path) != expected:
            differ.append(f"{label}: {phash(path)} != imagehash {expected}")
    assert not differ, "\n".join(differ)


def test_phash_of_a_flat_frame_is_the_dc_bit_alone(tmp_path: Path) -> None:
    """A fade's dark frame: every AC coefficient is exactly zero, as with scipy's FFT."""
    Image.new("RGB", (64, 36), (16, 16, 16)).save(tmp_path / "dark.png")
    assert phash(tmp_path / "dark.png") == "8000000000000000"
    Image.new("RGB", (64, 36)).save(tmp_path / "black.png")
    assert phash(tmp_path / "black.png") == "0000000000000000"
