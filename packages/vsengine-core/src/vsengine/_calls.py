"""Running a call into a :class:`concurrent.futures.Future` (shared by the loop adapters)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from concurrent.futures import Future

__all__ = ["CancelledTypes", "await_into", "run_into"]

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


async def await_into[R](
    future: Future[R], func: Callable[[], Awaitable[R]], native_cancelled: CancelledTypes = _NeverRaised
) -> None:
    """The task-side counterpart of `run_into`: await ``func()`` and settle ``future`` with its outcome.

    The native cancellation is stored as :class:`vsengine.loops.Cancelled` and re-raised, and so is
    any other exception that is neither an :class:`Exception` nor a ``Cancelled`` raised by
    ``func`` (a ``KeyboardInterrupt``, ``SystemExit``: the task must still end with it).
    """
    from vsengine.loops import Cancelled

    if not future.set_running_or_notify_cancel():
        return
    try:
        result = await func()
    except native_cancelled:
        future.set_exception(Cancelled())
        raise
    except BaseException as exc:
        future.set_exception(exc)
        if not isinstance(exc, Exception | Cancelled):
            raise
    else:
        future.set_result(result)
