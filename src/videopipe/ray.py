"""Pipelines on a Ray cluster: actors that each hold a `Pipeline`, fed from the job queue.

`process()` registers the videos in the store and enqueues them as one batch;
`drain()` works off jobs that are already there (a batch, or whole queues).
Both start `num_workers` Ray actors, each of which builds its `Pipeline` once
(so a `LocalProvider` loads its models once per actor) and runs the jobs the
driver hands it through a [`Worker`][videopipe.Worker] of its own: the same
leases, heartbeats, retries, dead-letter queue and resumable stages as
`videopipe worker`. A video done by a Ray actor or by a worker of the fleet is
done for both; neither pays for it again.

The driver claims a job on an actor's behalf (under the actor's worker ID) only
when that actor has a free slot, so videos are dispatched with back-pressure
and a job never waits in a Ray queue with its lease running out. When an actor's
process dies, Ray restarts the actor and retries its task (`max_retries`); the
retry resumes the video after its last completed stage. A job whose retries are
spent, or whose driver is interrupted, is given back to the queue.

Needs `pip install 'videopipe[ray]'`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
from tqdm.auto import tqdm

from ._exceptions import ConfigurationError, StorageError, VideopipeError
from ._imports import public, require
from ._inputs import check_input
from ._models import BatchStatus, Job, JobStatus
from ._observability import METRICS, serve_http
from ._pipeline import Pipeline
from ._retry import RetryPolicy
from ._sync import run_blocking
from ._worker import Worker
from .storage import DEFAULT_LEASE, Store, open_store

__all__ = [
    "ActorsLost",
    "PipelineFactory",
    "RayRun",
    "drain",
    "drain_blocking",
    "process",
    "process_blocking",
]

logger = logging.getLogger("videopipe.ray")

PipelineFactory = Callable[[Store], Pipeline]
"""What builds an actor's pipeline from the store the actor opened (picklable)."""


def _ray() -> ModuleType:
    return require("ray", package="ray", extra="ray", feature="videopipe.ray")


class ActorsLost(VideopipeError):
    """Every Ray actor of the run died more often than `max_retries`: the run cannot go on.

    Their jobs went back to the queue (pending, their attempt refunded). Look
    for why the actors' processes died (out of memory, a node lost) in the Ray
    logs, then run again or `videopipe ray drain`.

    Note:
        Added in 0.2.0.
    """


@dataclass(frozen=True)
class _DefaultPipeline:
    """`Pipeline.default` under `data_dir` (the settings' `DATA_DIR` when `None`)."""

    data_dir: str | None = None

    def __call__(self, store: Store) -> Pipeline:
        return Pipeline.default(store=store, data_dir=self.data_dir)


@dataclass
class RayRun:
    """What a Ray run did.

    Note:
        Added in 0.2.0.
    """

    batch_id: str | None
    """The batch the run processed (`process`, or `drain(batch_id=...)`)."""
    completed: int = 0
    """Jobs this run completed."""
    failed: int = 0
    """Job attempts that failed (each is retried or dead-lettered by the queue)."""
    released: int = 0
    """Jobs given back to the queue because their Ray task failed for good."""
    startup_sec: float = 0.0
    """Seconds from the first actor's creation until every actor was ready."""
    elapsed_sec: float = 0.0
    """Seconds of the whole run, start-up included."""
    actors: dict[str, int] = field(default_factory=dict)
    """Each actor's name (as the Ray dashboard shows it) and its process ID."""
    metrics: dict[str, str] = field(default_factory=dict)
    """Each actor's Prometheus metrics at the end (the names of a worker's `/metrics`)."""
    status: BatchStatus | None = None
    """The batch's final state, when there is a batch."""


class _PipelineActor:
    """A Ray actor: one store connection, one `Pipeline`, one `Worker` that runs handed jobs."""

    def __init__(
        self,
        store_url: str,
        factory: PipelineFactory,
        worker_id: str,
        *,
        slots: int,
        lease: float,
        max_attempts: int | None,
        backoff: RetryPolicy | None,
    ) -> None:
        self.store = open_store(store_url)
        self.pipeline = factory(self.store)
        self.worker = Worker(
            self.pipeline,
            self.store,
            concurrency=slots,
            lease=lease,
            max_attempts=max_attempts,
            backoff=backoff,
            worker_id=worker_id,
            handle_signals=False,
        )

    def ready(self) -> int:
        return os.getpid()

    async def run_job(self, job: Job) -> tuple[str, str]:
        """Run a job claimed for this actor: what this attempt did, and the job's status then.

        The attempt `"completed"` or `"failed"` the job, or `"lost"` it: its lease had
        run out (a restart took longer than the lease) and another worker has it.
        """
        completed, failed = self.worker.completed, self.worker.failed
        await self.worker.run_job(job)
        if self.worker.completed > completed:
            outcome = "completed"
        else:
            outcome = "failed" if self.worker.failed > failed else "lost"
        return outcome, (await self.store.get_job(job.id)).status.value

    def metrics(self) -> str:
        return METRICS.render().decode()

    async def serve_metrics(self, port: int) -> None:
        """Serve `/metrics` and `/healthz` on `port` of the actor's node until it stops."""

        async def metrics() -> tuple[int, str, bytes]:
            return 200, "text/plain; version=0.0.4; charset=utf-8", METRICS.render()

        async def healthz() -> tuple[int, str, bytes]:
            body = f'{{"ok": true, "worker_id": "{self.worker.worker_id}"}}'.encode()
            return 200, "application/json", body

        await serve_http({"/metrics": metrics, "/healthz": healthz}, host="0.0.0.0", port=port)

    async def close(self) -> None:
        await self.pipeline.aclose()
        await self.store.aclose()


@dataclass(frozen=True)
class _Options:
    store_url: str
    factory: PipelineFactory
    num_workers: int
    slots: int
    num_cpus: float
    num_gpus: float
    resources: Mapping[str, float] | None
    address: str | None
    queues: tuple[str, ...]
    lease: float
    max_attempts: int | None
    max_retries: int
    backoff: RetryPolicy | None
    progress: bool
    metrics_port: int | None

    def check(self) -> None:
        if self.num_workers < 1:
            raise ConfigurationError(f"num_workers must be at least 1, not {self.num_workers}")
        if self.slots < 1:
            raise ConfigurationError(f"slots must be at least 1, not {self.slots}")
        if self.max_retries < 0:
            raise ConfigurationError(f"max_retries must be 0 or more, not {self.max_retries}")
        if self.store_url.startswith("memory:"):
            raise ConfigurationError(
                "a Ray run needs a store every actor can open: 'memory://' lives in one "
                "process; use 'sqlite:///path' on a shared disk (one machine) or "
                "'postgresql://...' (a cluster)"
            )


class _Fleet:
    """The driver's side: actors, their free slots, and the claims made for them."""

    def __init__(self, queue: Store, options: _Options, batch_id: str | None) -> None:
        self.queue = queue
        self.options = options
        self.batch_id = batch_id
        tag = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.names = [f"videopipe-{tag}-{i}" for i in range(options.num_workers)]
        self.free = [options.slots] * options.num_workers
        self.running: dict[str, tuple[int, Job]] = {}
        self.run = RayRun(batch_id=batch_id)
        self.actors: list[Any] = []
        self._wake = anyio.Event()
        self._bar: Any = None
        self._serving: list[Any] = []
        self._dead: set[int] = set()

    def start_actors(self, ray: ModuleType) -> None:
        o = self.options
        remote = ray.remote(_PipelineActor)
        for name in self.names:
            handle = remote.options(
                name=name,
                num_cpus=o.num_cpus,
                num_gpus=o.num_gpus,
                resources=dict(o.resources or {}),
                max_restarts=o.max_retries,
                max_task_retries=o.max_retries,
                max_concurrency=o.slots + 3,
            ).remote(
                o.store_url,
                o.factory,
                name,
                slots=o.slots,
                lease=o.lease,
                max_attempts=o.max_attempts,
                backoff=o.backoff,
            )
            self.actors.append(handle)

    async def drive(self, ray: ModuleType) -> RayRun:
        started = time.perf_counter()
        try:
            self.start_actors(ray)
            for name, actor in zip(self.names, self.actors, strict=True):
                self.run.actors[name] = await actor.ready.remote()
            if self.options.metrics_port is not None:
                self._serving = [
                    actor.serve_metrics.remote(self.options.metrics_port + index)
                    for index, actor in enumerate(self.actors)
                ]
            self.run.startup_sec = time.perf_counter() - started
            with tqdm(
                total=await self._total(), unit="video", disable=not self.options.progress
            ) as self._bar:
                await self._loop()
            await self._collect_metrics(ray)
            if self.batch_id is not None:
                self.run.status = await self.queue.batch_status(self.batch_id)
        finally:
            with anyio.CancelScope(shield=True):
                await self._shut_down(ray)
        self.run.elapsed_sec = time.perf_counter() - started
        return self.run

    async def _collect_metrics(self, ray: ModuleType) -> None:
        """Each live actor's metrics into `run.metrics`; a lost actor (a node gone) has none."""
        for index, (name, actor) in enumerate(zip(self.names, self.actors, strict=True)):
            if index in self._dead:
                continue
            try:
                self.run.metrics[name] = await actor.metrics.remote()
            except ray.exceptions.RayActorError as exc:  # died after its last job
                logger.warning("no metrics from actor %s, which is lost: %s", name, exc)

    async def _total(self) -> int | None:
        if self.batch_id is None:
            return None
        status = await self.queue.batch_status(self.batch_id)
        return status.pending + status.processing

    async def _loop(self) -> None:
        idle = 0.05
        async with anyio.create_task_group() as tg:
            while len(self._dead) < len(self.names):
                claimed = 0
                for index, name in enumerate(self.names):
                    if self.free[index] <= 0:
                        continue
                    try:
                        jobs = await self.queue.claim(
                            name,
                            queues=self.options.queues,
                            lease=self.options.lease,
                            limit=self.free[index],
                        )
                    except StorageError as exc:
                        logger.warning("claim failed, retrying: %s", exc)
                        break
                    for job in jobs:
                        self.free[index] -= 1
                        self.running[job.id] = (index, job)
                        tg.start_soon(self._one, index, job)
                    claimed += len(jobs)
                if claimed:
                    idle = 0.05
                    continue
                if not self.running and await self._finished():
                    break
                await self._wait(idle)
                idle = min(idle * 2, 1.0)
        if len(self._dead) == len(self.names):  # raised here, not inside the task group
            raise ActorsLost(
                f"all {len(self.names)} Ray actor(s) of this run died more often than "
                f"max_retries={self.options.max_retries}; their jobs went back to the "
                "queue (see the Ray logs for why the processes died, then run again)"
            )

    async def _finished(self) -> bool:
        """Whether nothing is left to run: the batch, or the queues, have no live job."""
        if self.batch_id is not None:
            status = await self.queue.batch_status(self.batch_id)
            return status.pending + status.processing == 0
        for state in (JobStatus.PENDING, JobStatus.PROCESSING):
            live = await self.queue.peek(10_000, status=state)
            if any(job.queue in self.options.queues for job in live):
                return False
        return True

    async def _wait(self, seconds: float) -> None:
        """Wait for a job to end, for new jobs (a NOTIFY on PostgreSQL), or `seconds`."""
        wake = self._wake
        if not wake.is_set():
            async with anyio.create_task_group() as tg:

                async def woken() -> None:
                    await wake.wait()
                    tg.cancel_scope.cancel()

                async def notified() -> None:
                    await self.queue.wait_for_jobs(seconds)
                    tg.cancel_scope.cancel()

                tg.start_soon(woken)
                tg.start_soon(notified)
        self._wake = anyio.Event()

    async def _one(self, index: int, job: Job) -> None:
        name = self.names[index]
        ref = self.actors[index].run_job.options(name=f"videopipe:{job.video_id}").remote(job)
        try:
            outcome, status = await ref
        except Exception as exc:  # Ray gave up: the actor died more often than max_retries
            logger.warning("job %s: its Ray task failed for good (%s); releasing it", job.id, exc)
            if isinstance(exc, _ray().exceptions.RayActorError):
                self._dead.add(index)  # no more claims for it
            if await self._release(job, name):
                self.run.released += 1
        except BaseException:
            # The driver is stopping: cancel the task (its Worker gives the job back and
            # drops the video's run lease), and make sure of the job from here too.
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(Exception):
                    _ray().cancel(ref)
                with anyio.move_on_after(10), contextlib.suppress(Exception):
                    await ref
                await self._release(job, name)
            raise
        else:
            if outcome == "completed":
                self.run.completed += 1
            elif outcome == "failed":
                self.run.failed += 1
            if status in (JobStatus.DONE.value, JobStatus.DEAD.value) and self._bar is not None:
                self._bar.update(1)
        finally:
            self.running.pop(job.id, None)
            self.free[index] = 0 if index in self._dead else self.free[index] + 1
            self._wake.set()

    async def _release(self, job: Job, worker_id: str) -> bool:
        with anyio.move_on_after(10):
            try:
                return await self.queue.release(job.id, worker_id)
            except StorageError as exc:
                logger.warning("could not release job %s (its lease will expire): %s", job.id, exc)
        return False

    async def _shut_down(self, ray: ModuleType) -> None:
        for index, job in list(self.running.values()):
            await self._release(job, self.names[index])
        for ref in self._serving:
            with contextlib.suppress(Exception):
                ray.cancel(ref)
            with anyio.move_on_after(10), contextlib.suppress(Exception):
                await ref
        for index, actor in enumerate(self.actors):
            if index not in self._dead:  # a lost actor would keep `close` waiting
                with anyio.move_on_after(10), contextlib.suppress(Exception):
                    await actor.close.remote()
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)


async def _drive(queue: Store, options: _Options, batch_id: str | None) -> RayRun:
    ray = _ray()
    connected = False
    if not ray.is_initialized():
        ray.init(address=options.address, logging_level=logging.WARNING)
        connected = True
    try:
        return await _Fleet(queue, options, batch_id).drive(ray)
    finally:
        if connected:
            ray.shutdown()


@asynccontextmanager
async def _opened(url: str) -> AsyncIterator[Store]:
    """The driver's store, closed even when the run is cancelled (Ctrl-C) around it."""
    store = open_store(url)
    try:
        yield store
    finally:
        with anyio.CancelScope(shield=True):
            await store.aclose()


def _options(
    store: str,
    pipeline: PipelineFactory | None,
    data_dir: str | os.PathLike[str] | None,
    queues: Sequence[str],
    **rest: Any,
) -> _Options:
    factory = pipeline or _DefaultPipeline(None if data_dir is None else str(data_dir))
    options = _Options(store_url=store, factory=factory, queues=tuple(queues), **rest)
    options.check()
    return options


async def process(
    sources: Iterable[str | os.PathLike[str]],
    *,
    store: str,
    pipeline: PipelineFactory | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    num_workers: int = 2,
    slots: int = 1,
    num_cpus: float = 1,
    num_gpus: float = 0,
    resources: Mapping[str, float] | None = None,
    address: str | None = None,
    queue: str = "default",
    priority: int = 0,
    lease: float = DEFAULT_LEASE,
    max_attempts: int = 3,
    max_retries: int = 3,
    backoff: RetryPolicy | None = None,
    progress: bool = True,
    metrics_port: int | None = None,
) -> RayRun:
    """Process videos on a Ray cluster, with results in `store` as a local run writes them.

    The videos are registered in the store and enqueued as one batch (so
    `videopipe status BATCH` follows it, and a `videopipe worker` may help);
    then `num_workers` actors work the batch off, see [`drain`][videopipe.ray.drain].

    Examples:
        ```python
        from videopipe import ray as vp_ray

        run = vp_ray.process_blocking(
            ["a.mp4", "b.mp4"], store="postgresql://videos@db/videos", num_workers=4
        )
        print(run.status)
        ```

    Args:
        sources: Video files; every actor must read them at the same path.
        store: The store's URL, opened by the driver and by each actor: SQLite
            on a disk they share (one machine) or PostgreSQL (a cluster).
        pipeline: Builds an actor's pipeline from its store; it is pickled to
            the actors. Defaults to `Pipeline.default(store=..., data_dir=data_dir)`.
        data_dir: The default pipeline's file root, shared by every actor
            (defaults to each actor's `DATA_DIR`).
        num_workers: Actors to start.
        slots: Videos each actor runs at once.
        num_cpus: CPUs each actor reserves in Ray's scheduler.
        num_gpus: GPUs each actor reserves (a `LocalProvider` then runs on it).
        resources: Custom Ray resources each actor reserves.
        address: The Ray cluster to join (`"auto"`, `"ray://host:10001"`); by
            default `RAY_ADDRESS`, else a local cluster is started. Ignored when
            Ray is already initialised in this process.
        queue: The queue the batch's jobs go to.
        priority: The jobs' priority.
        lease: Seconds a job stays leased without a heartbeat (an actor's
            process that dies holds its job at most this long).
        max_attempts: Attempts a job gets before the dead-letter queue.
        max_retries: How often Ray restarts a dead actor and retries its task.
        backoff: The delay before a failed job's next attempt.
        progress: Show a progress bar over the videos.
        metrics_port: Actor `i` serves its Prometheus metrics (a worker's names:
            `videopipe_jobs_total`, `videopipe_jobs_in_flight`, stage durations,
            provider usage) at `/metrics`, and `/healthz`, on port
            `metrics_port + i` of its node, while the run lasts.

    Returns:
        What the run did, with the batch's final status.

    Raises:
        ConfigurationError: A setting is out of range, or the store is `memory://`.
        MissingDependency: Ray is not installed.
        MediaError: A source is missing or empty (nothing is enqueued then).
        ActorsLost: Every actor died more often than `max_retries`.

    Note:
        Added in 0.2.0.
    """
    options = _options(
        store,
        pipeline,
        data_dir,
        (queue,),
        num_workers=num_workers,
        slots=slots,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        resources=resources,
        address=address,
        lease=lease,
        max_attempts=max_attempts,
        max_retries=max_retries,
        backoff=backoff,
        progress=progress,
        metrics_port=metrics_port,
    )
    paths = [Path(s) for s in sources]
    # Every input checked before any is registered: one bad path leaves nothing behind.
    for path in paths:
        await check_input(path)
    async with _opened(store) as queue_store:
        registrar = Pipeline([], store=queue_store)
        videos = [await registrar.register(path) for path in paths]
        batch_id = await queue_store.create_batch(
            [v.id for v in videos], queue=queue, priority=priority, max_attempts=max_attempts
        )
        return await _drive(queue_store, options, batch_id)


async def drain(
    *,
    store: str,
    batch_id: str | None = None,
    queues: Sequence[str] = ("default",),
    pipeline: PipelineFactory | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    num_workers: int = 2,
    slots: int = 1,
    num_cpus: float = 1,
    num_gpus: float = 0,
    resources: Mapping[str, float] | None = None,
    address: str | None = None,
    lease: float = DEFAULT_LEASE,
    max_attempts: int | None = None,
    max_retries: int = 3,
    backoff: RetryPolicy | None = None,
    progress: bool = True,
    metrics_port: int | None = None,
) -> RayRun:
    """Work off jobs already in the store's queue on a Ray cluster, like a worker fleet.

    Jobs are claimed with leases under each actor's worker ID, exactly as a
    [`Worker`][videopipe.Worker] claims them, so Ray actors and `videopipe
    worker` processes can drain one queue side by side. The run ends when the
    batch (or, without one, every queue in `queues`) has no pending or
    processing job left; jobs that wait for a retry are waited for.

    Args:
        store: The store's URL (see [`process`][videopipe.ray.process]).
        batch_id: Stop when this batch is finished; jobs of other batches in
            `queues` may be run meanwhile.
        queues: The queues to claim from.
        pipeline: Builds an actor's pipeline from its store.
        data_dir: The default pipeline's file root.
        num_workers: Actors to start.
        slots: Videos each actor runs at once.
        num_cpus: CPUs each actor reserves.
        num_gpus: GPUs each actor reserves.
        resources: Custom Ray resources each actor reserves.
        address: The Ray cluster to join.
        lease: Seconds a job stays leased without a heartbeat.
        max_attempts: Attempts a job gets, when lower than its own; defaults to
            `WORKER_MAX_ATTEMPTS`.
        max_retries: How often Ray restarts a dead actor and retries its task.
        backoff: The delay before a failed job's next attempt.
        progress: Show a progress bar over the videos.
        metrics_port: Actor `i` serves `/metrics` and `/healthz` on port
            `metrics_port + i` of its node (see [`process`][videopipe.ray.process]).

    Returns:
        What the run did.

    Raises:
        ConfigurationError: A setting is out of range, or the store is `memory://`.
        MissingDependency: Ray is not installed.
        NotFound: No batch `batch_id`.
        ActorsLost: Every actor died more often than `max_retries`.

    Note:
        Added in 0.2.0.
    """
    options = _options(
        store,
        pipeline,
        data_dir,
        queues,
        num_workers=num_workers,
        slots=slots,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        resources=resources,
        address=address,
        lease=lease,
        max_attempts=max_attempts,
        max_retries=max_retries,
        backoff=backoff,
        progress=progress,
        metrics_port=metrics_port,
    )
    async with _opened(store) as queue_store:
        if batch_id is not None:
            await queue_store.batch_status(batch_id)  # NotFound before any actor starts
        return await _drive(queue_store, options, batch_id)


def process_blocking(sources: Iterable[str | os.PathLike[str]], **options: Any) -> RayRun:
    """The blocking twin of [`process`][videopipe.ray.process]."""
    return run_blocking(process, sources, **options)


def drain_blocking(**options: Any) -> RayRun:
    """The blocking twin of [`drain`][videopipe.ray.drain]."""
    return run_blocking(drain, **options)


public(globals(), __name__)
