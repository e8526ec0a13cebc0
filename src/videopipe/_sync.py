"""The one bridge from synchronous code to videopipe's async implementation."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import anyio
import anyio.from_thread

__all__ = ["cancel_point", "run_blocking"]

P = ParamSpec("P")
R = TypeVar("R")


def run_blocking(
    fn: Callable[P, Coroutine[Any, Any, R]], /, *args: P.args, **kwargs: P.kwargs
) -> R:
    """Run the async function `fn` to completion from synchronous code.

    In a script or the CLI this starts an event loop. Inside a running loop
    (Jupyter, an async web app calling sync code) it runs `fn` on a new loop in
    a worker thread instead, so it never fails with "event loop is already
    running" and needs no `nest_asyncio`. Anything `fn` opens (a store, an HTTP
    client) must therefore be opened inside `fn`: a resource bound to the
    notebook's loop cannot be used from the other one.

    Args:
        fn: The coroutine function to run.
        *args: Positional arguments for `fn`.
        **kwargs: Keyword arguments for `fn`.

    Returns:
        What `fn` returns.

    Raises:
        TypeError: `fn` is a coroutine (`run_blocking(store.list_scenes(video_id))`)
            or not callable; the message shows the call to write instead.
    """
    given: object = fn  # typed as a callable, but a script may pass anything
    if inspect.iscoroutine(given):
        name = getattr(given, "__qualname__", "fn")
        given.close()  # never awaited: close it, so Python adds no RuntimeWarning to the error
        short = name.rsplit(".", 1)[-1]
        raise TypeError(
            f"run_blocking() takes an async function and its arguments, not a coroutine: "
            f"write run_blocking({short}, *args) instead of run_blocking({short}(*args)) "
            f"(here {name}() was called without await). To query a store from a script, "
            f"`with videopipe.BlockingStore(url) as store:` gives its methods without await."
        )
    if not callable(given):
        raise TypeError(
            f"run_blocking() takes an async function and its arguments, not "
            f"{type(given).__name__!r}: write run_blocking(fn, *args)"
        )
    call = functools.partial(fn, *args, **kwargs)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(call)
    with anyio.from_thread.start_blocking_portal() as portal:
        result: R = portal.call(call)
    return result


def cancel_point() -> None:
    """Raise the cancellation of the task awaiting this worker thread, if it was cancelled.

    Long CPU work (decoding every frame, hashing images) runs in a thread that
    cancellation cannot interrupt: `anyio.to_thread.run_sync` waits for it to
    return. Such a loop calls this once per step (a frame: well under 100 ms),
    so a timeout, a worker's grace period or a second signal stops the thread
    itself, not only the task waiting for it. Outside an anyio worker thread
    (the function called directly) it does nothing.
    """
    try:
        anyio.from_thread.check_cancelled()
    except RuntimeError:  # not in an anyio worker thread: nobody to cancel it
        return
