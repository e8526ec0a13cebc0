"""A real S3-compatible server for the object-storage tests: `moto_server` in a subprocess.

The server runs for the session on a free local port; each test gets its own
bucket and the AWS variables pointing at the server (dummy credentials, so
nothing can reach a real account or the internet).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server started for this session."""
    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # A hang detector, not a deadline: a server that is not up in 120 s is broken.
        give_up = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=5)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > give_up:
                    raise RuntimeError(f"moto_server did not start on port {port}") from None
                time.sleep(0.05)
        yield url
    finally:
        server.kill()
        server.wait()


@dataclass
class Bucket:
    """A fresh bucket on the test server."""

    name: str
    endpoint: str
    fs: Any

    def url(self, *parts: str) -> str:
        return "/".join([f"s3://{self.name}", *parts])

    def objects(self) -> list[str]:
        self.fs.invalidate_cache()
        return sorted(p.split("/", 1)[1] for p in self.fs.find(self.name) if not p.endswith("/"))


def aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new bucket, with the AWS variables set to reach it (and only it)."""
    import s3fs

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in aws_env(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    name = f"vp-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    return Bucket(name, s3_endpoint, fs)


class HoldingProxy:
    """A TCP proxy to the S3 server that holds an upload part way: for a "killed mid-upload" test.

    Everything is forwarded until a `PUT` whose request line ends with `suffix`;
    then the request's head and one more chunk of its body are forwarded, and
    nothing after (`held` is set). The client is left mid-upload, to be killed.
    """

    def __init__(self, endpoint: str, suffix: bytes) -> None:
        self.target = ("127.0.0.1", int(endpoint.rsplit(":", 1)[1]))
        self.suffix = suffix
        self.held = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        window = b""
        more = -1  # chunks still to forward once the upload is seen
        try:
            while data := src.recv(4096):
                if self.held.is_set() and watch:
                    continue  # swallowed: the upload never completes
                if watch and more < 0:
                    window = (window + data)[-16384:]
                    if b"PUT " in window and self.suffix + b" HTTP/1.1" in window:
                        more = 1
                        dst.sendall(data)
                        continue
                elif watch and more >= 0:
                    dst.sendall(data)
                    more -= 1
                    if more < 0:
                        self.held.set()
                    continue
                dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.server.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.close()
