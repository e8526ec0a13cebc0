"""Hash every file under a directory with `process_batch`: bounded concurrency, ordered results.

    python examples/hash_files.py [DIRECTORY]

Each file is read and hashed in a worker thread, at most 4 at a time, with a
progress bar; a file that cannot be read fails alone and the batch goes on.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import anyio
import anyio.to_thread

import videopipe as vp


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def hash_file(path: Path) -> str:
    return await anyio.to_thread.run_sync(sha256, path)


async def main(paths: list[Path], root: Path) -> int:
    paths.append(root / "no-such-file.bin")  # one bad item: it fails alone
    results = await vp.process_batch(
        paths, hash_file, concurrency=4, largest_first=True, progress=True
    )
    ok = [r for r in results if r.ok]
    for path, result in zip(paths, results, strict=True):
        match result:
            case vp.Ok(digest):
                print(f"{digest[:16]}  {path.relative_to(root)}")
            case vp.Err(error):
                print(f"{'FAILED':<16}  {path.relative_to(root)}: {type(error).__name__}: {error}")
    print(f"Done: {len(ok)} succeeded, {len(results) - len(ok)} failed")
    return 0


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent / "src")
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    raise SystemExit(anyio.run(main, paths, root))
