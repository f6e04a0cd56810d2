"""Running a call into a :class:`concurrent.futures.Future` (shared by the loop adapters)."""

from __future__ import annotations

from concurrent.futures import InvalidStateError
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from concurrent.futures import Future

__all__ = ["CancelledTypes", "await_worker", "run_into"]

type CancelledTypes = type[BaseException] | tuple[type[BaseException], ...]


class _NeverRaised(BaseException):
    """Stands for "no native cancellation exception"."""


def run_into[R](
    future: Future[R], func: Callable[[], R], native_cancelled: CancelledTypes = _NeverRaised
) -> None:
    """Run ``func`` and settle ``future`` with its outcome, unless ``future`` was cancelled first.

    A ``native_cancelled`` exception (the event loop's own cancellation) is stored as
    :class:`vsengine.loops.Cancelled`, vsengine's loop-neutral cancellation.
    """
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = func()
    except native_cancelled:
        from vsengine.loops import Cancelled

        future.set_exception(Cancelled())
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


async def await_worker(
    future: Future[Any],
    run_worker: Callable[[], Awaitable[object]],
    native_cancelled: CancelledTypes = _NeverRaised,
) -> None:
    """The task that waits for a worker thread running ``run_into(future, ...)``.

    The worker settles ``future`` itself, so ``future`` is running only once a worker thread has
    started it; until then (waiting for a free thread) cancelling ``future`` withdraws the work. If
    ``run_worker()`` ends without the worker having settled ``future`` (the loop cancelled the task
    before a thread was free, or starting the thread failed), ``future`` fails with
    :class:`vsengine.loops.Cancelled` or that exception. The native cancellation is re-raised, and
    so is any other exception that is not an :class:`Exception` (the task must still end with it).
    """
    from vsengine.loops import Cancelled

    try:
        await run_worker()
    except native_cancelled:
        _fail_if_pending(future, Cancelled())
        raise
    except BaseException as exc:
        _fail_if_pending(future, exc)
        if not isinstance(exc, Exception | Cancelled):
            raise


def _fail_if_pending(future: Future[Any], error: BaseException) -> None:
    if not future.done():
        try:
            future.set_exception(error)
        except InvalidStateError:  # settled concurrently
            pass
