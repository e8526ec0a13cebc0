"""fsspec (`s3fs`) against `obstore` on one moto S3 server: the choice of the media client.

Run:  pip install obstore && python benchmarks/bench_obstore_vs_fsspec.py

40 uploads of a 213 KiB file (the size of a short benchmark clip), then 40
streamed downloads hashed as they arrive (what an input's content ID costs),
with each client in turn, three rounds. It prints milliseconds per operation
and the client's CPU milliseconds per operation (the whole process: fsspec's
I/O thread and obstore's Rust threads included). Not part of the test suite:
obstore is not a videopipe dependency.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import obstore
import s3fs
from obstore.store import S3Store

N = 40


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """A moto S3 server on a free port (as `bench_objectstore.py` starts it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{url}/moto-api/", timeout=5)
            return server, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("moto server did not start")


def main() -> int:
    server, endpoint = start_moto()
    os.environ.update(
        AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1"
    )
    try:
        fs = s3fs.S3FileSystem(endpoint_url=endpoint)
        fs.mkdir("cmp")
        store = S3Store(
            "cmp", endpoint=endpoint, allow_http=True, region="us-east-1",
            access_key_id="x", secret_access_key="x",
        )  # fmt: skip
        data = os.urandom(213 * 1024)
        src = Path(f"/tmp/bench-obstore-{os.getpid()}.bin")
        src.write_bytes(data)

        def with_s3fs(tag: str) -> tuple[float, float]:
            t0 = time.perf_counter()
            for i in range(N):
                fs.put_file(str(src), f"cmp/{tag}/{i}.bin")
            t1 = time.perf_counter()
            for i in range(N):
                h = hashlib.sha256()
                with fs.open(f"cmp/{tag}/{i}.bin", "rb", block_size=8 << 20, size=len(data)) as f:
                    while block := f.read(1 << 20):
                        h.update(block)
            return t1 - t0, time.perf_counter() - t1

        def with_obstore(tag: str) -> tuple[float, float]:
            t0 = time.perf_counter()
            for i in range(N):
                obstore.put(store, f"{tag}/{i}.bin", src)
            t1 = time.perf_counter()
            for i in range(N):
                h = hashlib.sha256()
                for chunk in obstore.get(store, f"{tag}/{i}.bin").stream(min_chunk_size=1 << 20):
                    h.update(chunk)
            return t1 - t0, time.perf_counter() - t1

        for r in range(3):
            for name, run in (("fsspec/s3fs", with_s3fs), ("obstore", with_obstore)):
                cpu0 = time.process_time()
                up, down = run(f"{name.split('/')[0]}{r}")
                cpu = (time.process_time() - cpu0) / (2 * N)
                print(
                    f"round {r + 1} {name:<12} put {up / N * 1000:6.1f} ms  "
                    f"get+hash {down / N * 1000:6.1f} ms  client CPU {cpu * 1000:5.1f} ms/op  "
                    f"(load {os.getloadavg()[0]:.0f})"
                )
        src.unlink()
    finally:
        server.kill()
        server.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
