"""`videopipe process`: videos through the pipeline now, a summary, and a clean Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import anyio

from .._batch import Err, Ok, process_batch
from .._exceptions import ConfigurationError
from .._locations import is_url
from .._pipeline import Pipeline
from .._render import plain
from .._result import VideoResult
from .._settings import Settings
from ..providers import Provider
from ..providers._choose import NO_PROVIDER_HINT
from ..storage import open_store
from ._output import colour, emit_json, say, warn
from ._stores import store_url

__all__ = ["INTERRUPTED_EXIT", "cmd_process", "describe_provider"]

INTERRUPTED_EXIT = 130
"""The exit code after Ctrl-C (128 + SIGINT), as shells expect."""


def describe_provider(provider: Provider | None) -> str:
    """The provider and its three models, in one line."""
    if provider is None:
        return f"none: {NO_PROVIDER_HINT}"
    return (
        f"{provider.name} (transcription: {provider.transcription_model}, "
        f"vision: {provider.vision_model}, embedding: {provider.embedding_model})"
    )


def _size(item: tuple[int, Path]) -> float:
    try:
        return float(os.stat(item[1]).st_size)
    except OSError:
        return 0.0


async def _cancel_on_sigint(scope: anyio.CancelScope, interrupted: list[bool]) -> None:
    """Cancel `scope` on the first SIGINT; a second one stops at once (the default handler)."""
    try:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                interrupted.append(True)
                scope.cancel()
                return
    except NotImplementedError:  # pragma: no cover - Windows: KeyboardInterrupt as before
        return


async def _dry_run(args: argparse.Namespace, settings: Settings) -> int:
    # An estimate reads the store (completed stages cost nothing) but must not create one.
    url = settings.database_url
    sqlite = url.startswith("sqlite:///")
    existing = not sqlite or await anyio.Path(url.removeprefix("sqlite:///")).exists()
    async with (
        open_store(url if existing else "memory://") as store,
        Pipeline.default(store=store, settings=settings) as pipeline,
    ):
        estimate = await pipeline.estimate([Path(p) for p in args.paths])
    say(estimate.table())
    if pipeline.provider is None:
        say(f"No AI provider: {NO_PROVIDER_HINT}.")
    say(f"Estimated cost: ${estimate.cost_usd:.4f} (dry run: nothing was processed)")
    return 0


def _print_outcome(path: str, outcome: Ok[VideoResult] | Err | None, as_json: bool) -> None:
    if as_json:
        record: dict[str, object] = {"input": path, "status": "interrupted", "video_id": None}
        record.update(duration_sec=None, seconds=None, error=None)
        if isinstance(outcome, Ok):
            res = outcome.value
            record.update(
                status="ready",
                video_id=res.video_id,
                duration_sec=res.video.duration_sec,
                seconds=round(res.duration_sec, 3),
            )
        elif isinstance(outcome, Err):
            record.update(status="failed", error=str(outcome.error))
        emit_json(record)
        return
    if isinstance(outcome, Ok):
        res = outcome.value
        status = colour(f"{'ready':<8}", "green")
        say(f"{status} {res.video_id:<22} {res.duration_sec:>8.1f}  {plain(path)}")
    elif isinstance(outcome, Err):
        status = colour(f"{'FAILED':<8}", "red")
        say(f"{status} {'-':<22} {'':>8}  {plain(f'{path}: {outcome.error}')}")


async def cmd_process(args: argparse.Namespace, settings: Settings) -> int:
    """Process the videos now; on Ctrl-C, stop, say what happened, exit 130."""
    if args.dry_run:
        return await _dry_run(args, settings)
    if args.title is not None and len(args.paths) > 1:
        raise ConfigurationError(
            f"--title names one video, but {len(args.paths)} files were given: "
            "process them one at a time to give each its title"
        )
    items = [(i, p if is_url(p) else Path(p)) for i, p in enumerate(args.paths)]
    outcomes: dict[int, Ok[VideoResult] | Err] = {}
    interrupted: list[bool] = []
    force: bool | set[str] = True if args.force == ["all"] else set(args.force or ())
    async with (
        open_store(store_url(settings)) as store,
        Pipeline.default(store=store, settings=settings) as pipeline,
    ):
        warn(f"provider: {describe_provider(pipeline.provider)}")

        async def one(item: tuple[int, Path | str]) -> VideoResult:
            index, path = item
            try:
                result = await pipeline.run(path, force=force, title=args.title)
            except Exception as exc:
                outcomes[index] = Err(exc)
                raise
            outcomes[index] = Ok(result)
            return result

        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_cancel_on_sigint, scope, interrupted)
                await process_batch(
                    items,
                    one,
                    concurrency=args.concurrency,
                    progress=not args.quiet and sys.stderr.isatty(),
                    key=_size,
                    largest_first=True,
                )
                tg.cancel_scope.cancel()  # the batch is over: stop listening for SIGINT
    failed = sum(1 for o in outcomes.values() if isinstance(o, Err))
    if not args.json:
        say(f"{'status':<8} {'video':<22} {'seconds':>8}  input / error")
    for index, path in enumerate(args.paths):
        if index in outcomes or args.json:
            _print_outcome(path, outcomes.get(index), args.json)
    if interrupted:
        left = len(args.paths) - len(outcomes)
        warn(
            f"interrupted: {len(outcomes)} done, {left} not finished; "
            "run the same command again to resume"
        )
        return INTERRUPTED_EXIT
    if not args.json:
        say(f"Done: {len(outcomes) - failed} succeeded, {failed} failed")
    return 1 if failed else 0
