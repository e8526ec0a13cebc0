"""A real Ray cluster for the tests: a head node and a second node (two raylets), once.

Both nodes are `ray start --block` processes of this session, each in a process
group of its own, on free ports, with a temporary directory of their own; the
teardown stops them by their process groups (never `ray stop`, which stops every
Ray on the machine). When the cluster cannot start, the tests skip, except when
`CI=true`: there they fail, so CI cannot pass without Ray.

Small on purpose (the machine has two cores, shared): one CPU a node, no
dashboard, a 100 MB object store a node.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.postgres import pg_template, pg_url  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
OBJECT_STORE = str(100 * 1024 * 1024)


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason} (CI=true: the Ray tests need a Ray cluster)", pytrace=False)
    pytest.skip(reason)


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _node_ports() -> list[str]:
    agent, agent_grpc, metrics, runtime_env = free_ports(4)
    return [
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--metrics-export-port={metrics}",
        f"--runtime-env-agent-port={runtime_env}",
    ]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the node's process group (`ray start --block` stops its children), then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=30)  # a hang detector, not a measurement
            if sig == signal.SIGTERM:
                # Its children may outlive it for a moment: make sure of the whole group.
                os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address (`host:port`) of a two-node Ray cluster, with this process connected."""
    try:
        import ray
    except ImportError as exc:
        unavailable(f"Ray is not installed ({exc}): pip install 'videopipe[ray]'")
        raise
    ray_bin = Path(sys.executable).with_name("ray")
    # Short: Ray's Unix socket paths live under it and must stay under 107 bytes.
    temp = tempfile.mkdtemp(prefix="vpray-", dir="/tmp")
    (gcs,) = free_ports(1)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_DISABLE_IMPORT_WARNING": "1",
    }
    common = [
        "--block",
        "--num-cpus=1",
        "--num-gpus=0",
        f"--object-store-memory={OBJECT_STORE}",
        "--disable-usage-stats",
    ]
    address = f"127.0.0.1:{gcs}"
    logs = Path(temp) / "nodes"
    logs.mkdir()
    nodes: list[subprocess.Popen[bytes]] = []

    def start(name: str, args: list[str]) -> None:
        with (logs / f"{name}.log").open("wb") as log:
            nodes.append(
                subprocess.Popen(
                    [str(ray_bin), "start", *args, *common, *_node_ports()],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    try:
        start(
            "head",
            [
                "--head",
                f"--port={gcs}",
                "--node-ip-address=127.0.0.1",
                "--include-dashboard=false",
                f"--temp-dir={temp}",
            ],
        )
        try:
            _wait_for_port(gcs, nodes)
            start("second", [f"--address={address}", "--node-ip-address=127.0.0.1"])
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
            _wait_for_nodes(ray, 2, nodes)
        except Exception as exc:
            text = "".join(p.read_text(errors="replace")[-2000:] for p in logs.iterdir())
            unavailable(f"the Ray test cluster did not start: {exc}\n{text}")
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_port(port: int, nodes: list[subprocess.Popen[bytes]]) -> None:
    """Until the head's GCS accepts connections; fails at once when the head exits."""
    import time

    deadline = time.monotonic() + 120  # a hang detector: a loaded machine starts Ray slowly
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass
        if nodes[0].poll() is not None:
            raise RuntimeError(f"the head node exited with {nodes[0].returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("the head node did not listen within 120 s")
        time.sleep(0.2)


def _wait_for_nodes(ray, n: int, nodes: list[subprocess.Popen[bytes]]) -> None:
    """Until `n` nodes are alive; fails at once when a node process exits."""
    import time

    deadline = time.monotonic() + 120  # a hang detector: a loaded machine starts Ray slowly
    while sum(1 for node in ray.nodes() if node["Alive"]) < n:
        for node in nodes:
            if node.poll() is not None:
                raise RuntimeError(f"a node exited with {node.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {n} Ray nodes after 120 s")
        time.sleep(0.2)
