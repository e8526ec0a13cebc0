"""A real Ray cluster for the tests: a head node and a second node (two raylets), once.

Both nodes are `ray start --block` processes of this session, each in a process
group of its own, on free ports, with a temporary directory of their own; the
teardown stops them by their process groups (never `ray stop`, which stops every
Ray on the machine). When the cluster cannot start, the tests skip, except when
`CI=true`: there they fail, so CI cannot pass without Ray. `VIDEOPIPE_TEST_RAY_BIN`
names another `ray` command (the CI-policy test gives one that cannot start).

Small on purpose (the machine has two cores, shared): one CPU a node, no
dashboard, a 100 MB object store a node.
"""

from __future__ import annotations

import contextlib
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
RAY = Path(sys.executable).with_name("ray")
# Bound to 127.0.0.1, so no token: else a `~/.ray/auth_token` left by any local
# `ray.init()` (Ray >= 2.5x writes one) turns token mode on for some processes only.
NO_TOKEN = {"RAY_AUTH_MODE": "disabled"}
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


def _stop(nodes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each node's process group (`ray start --block` stops its children), then KILL
    what is left of the groups, so that no Ray process of this session outlives it."""
    import time

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for node in nodes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, sig)
        deadline = time.monotonic() + 5
        for node in nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.wait(timeout=max(0.1, deadline - time.monotonic()))


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address (`host:port`) of a two-node Ray cluster, with this process connected."""
    try:
        import ray
    except ImportError as exc:
        unavailable(f"Ray is not installed ({exc}): pip install 'videopipe[ray]'")
        raise
    # Short: Ray's Unix socket paths live under it and must stay under 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="vpray-", dir="/tmp"))
    (temp / "nodes").mkdir()
    nodes: list[subprocess.Popen[bytes]] = []
    saved = {name: os.environ.get(name) for name in NO_TOKEN}
    os.environ.update(NO_TOKEN)  # for this driver, and the processes it starts
    try:
        try:
            address = ""
            for name in ("head", "second"):
                for attempt in range(3):
                    if name == "head":
                        (gcs,) = free_ports(1)
                        address = f"127.0.0.1:{gcs}"
                        args = ["--head", f"--port={gcs}", "--include-dashboard=false"]
                        args.append(f"--temp-dir={temp}")
                    else:
                        # `vp_node`: one actor's place on a node that is not the head (see
                        # `doomed_node`); other tests ask for no such resource.
                        args = [f"--address={address}", '--resources={"vp_node": 1}']
                    log = temp / "nodes" / f"{name}-{attempt}.log"
                    node = _launch(args, log)
                    nodes.append(node)
                    if _started(node, log):
                        break
                    _stop([node])
                else:
                    raise RuntimeError(f"the {name} node failed three times")
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        except Exception as exc:
            text = "".join(
                f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                for p in sorted((temp / "nodes").iterdir())
            )
            unavailable(f"the Ray test cluster did not start: {exc}\n{text}")
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        _stop(nodes)
        shutil.rmtree(temp, ignore_errors=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _launch(
    args: list[str], log: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`ray start --block ARGS` in a process group of its own, small, output into `log`."""
    env = {
        **os.environ,
        **(extra_env or {}),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "RAY_USAGE_STATS_ENABLED": "0",
        **NO_TOKEN,
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                os.environ.get("VIDEOPIPE_TEST_RAY_BIN")
                or str(Path(sys.executable).with_name("ray")),
                "start",
                *args,
                "--block",
                "--node-ip-address=127.0.0.1",
                "--num-cpus=1",
                "--num-gpus=0",
                f"--object-store-memory={OBJECT_STORE}",
                "--disable-usage-stats",
                *_node_ports(),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def doomed_node(ray_cluster: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A third raylet joined to the cluster for one test, which may kill it (its group).

    It has one `vp_node`, as the second node has, so two actors asking for one
    each land one on either; its processes see `VIDEOPIPE_TEST_DOOMED=1` (see
    `tests.ray_cluster.pipelines.HoldOnDoomed`). Stopped by its process group.
    """
    logs = tmp_path / "doomed-logs"
    logs.mkdir()
    for attempt in range(3):
        log = logs / f"doomed-{attempt}.log"
        node = _launch(
            [f"--address={ray_cluster}", '--resources={"vp_node": 1}'],
            log,
            {"VIDEOPIPE_TEST_DOOMED": "1"},
        )
        if _started(node, log):
            break
        _stop([node])
    else:
        unavailable("a third Ray node failed to start three times")
    try:
        yield node
    finally:
        _stop([node])


def _started(node: subprocess.Popen[bytes], log: Path) -> bool:
    """Whether the node came up (`False`: it exited, as Ray's fixed 30 s start-up wait
    makes it do on a machine at a high load; the caller tries again)."""
    import time

    deadline = time.monotonic() + 180  # a hang detector, not a measurement
    while time.monotonic() < deadline:
        if b"Ray runtime started" in log.read_bytes():
            return True
        if node.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every Ray test runs in one pytest-xdist worker, so the suite starts one cluster."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.xdist_group("ray"))
