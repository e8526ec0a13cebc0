"""`videopipe ray process|drain`: the pipeline on a Ray cluster (`videopipe.ray`)."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from typing import Any

import anyio

from .._exceptions import ConfigurationError
from .._settings import Settings
from ..ray import PipelineFactory, RayRun, drain, process
from ._output import emit_json, say, warn
from ._process import INTERRUPTED_EXIT
from ._stores import store_url

__all__ = ["cmd_ray_drain", "cmd_ray_process", "load_factory"]


def load_factory(spec: str) -> PipelineFactory:
    """The pipeline factory named `module:attribute` (a callable taking the store).

    Raises:
        ConfigurationError: The name is malformed, or names nothing callable.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"--pipeline {spec!r}: give it as module:function, such as mypipes:build "
            "(a function that takes the store and returns a videopipe.Pipeline)"
        )
    try:
        found: Any = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"--pipeline {spec!r}: {exc}") from exc
    if not callable(found):
        raise ConfigurationError(f"--pipeline {spec!r} is not callable")
    return found  # type: ignore[no-any-return]


def _engine(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    return {
        "store": store_url(settings),
        "pipeline": load_factory(args.pipeline) if args.pipeline else None,
        "data_dir": settings.data_dir,
        "num_workers": args.workers,
        "slots": args.slots,
        "num_cpus": args.num_cpus,
        "num_gpus": args.num_gpus,
        "address": args.address,
        "progress": not args.quiet and sys.stderr.isatty(),
        "metrics_port": args.metrics_port,
    }


def _report(run: RayRun, as_json: bool) -> int:
    status = run.status
    if as_json:
        emit_json(
            {
                "batch_id": run.batch_id,
                "completed": run.completed,
                "failed_attempts": run.failed,
                "released": run.released,
                "dead": status.failed if status else None,
                "startup_sec": round(run.startup_sec, 3),
                "elapsed_sec": round(run.elapsed_sec, 3),
                "actors": run.actors,
            }
        )
    else:
        say(
            f"Done: {run.completed} completed by {len(run.actors)} Ray actor(s) in "
            f"{run.elapsed_sec:.1f}s (start-up {run.startup_sec:.1f}s)"
            + (f", batch {run.batch_id}" if run.batch_id else "")
        )
        if status is not None and status.failed:
            warn(f"{status.failed} job(s) failed for good: `videopipe jobs dead` lists them")
    return 1 if status is not None and status.failed else 0


async def _interruptible(call: Any) -> RayRun | None:
    """Run `call()`; on SIGINT cancel it (its jobs go back to the queue) and return `None`."""
    result: list[RayRun] = []
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def sigint() -> None:
                with anyio.open_signal_receiver(signal.SIGINT) as signals:
                    async for _ in signals:
                        scope.cancel()
                        return

            tg.start_soon(sigint)
            result.append(await call())
            tg.cancel_scope.cancel()
    return result[0] if result else None


async def cmd_ray_process(args: argparse.Namespace, settings: Settings) -> int:
    """Enqueue the videos as a batch and process it on a Ray cluster."""
    options = _engine(args, settings)
    run = await _interruptible(
        lambda: process(args.paths, queue=args.queue, priority=args.priority, **options)
    )
    if run is None:
        warn("interrupted: running jobs went back to the queue; run it again to resume")
        return INTERRUPTED_EXIT
    return _report(run, args.json)


async def cmd_ray_drain(args: argparse.Namespace, settings: Settings) -> int:
    """Work off queued jobs (a batch, or whole queues) on a Ray cluster."""
    options = _engine(args, settings)
    run = await _interruptible(
        lambda: drain(batch_id=args.batch, queues=args.queue or ["default"], **options)
    )
    if run is None:
        warn("interrupted: running jobs went back to the queue")
        return INTERRUPTED_EXIT
    return _report(run, args.json)
