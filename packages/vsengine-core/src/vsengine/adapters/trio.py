"""The trio adapter: :class:`TrioEventLoop`."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING

import trio

from vsengine._calls import await_worker, run_into
from vsengine.loops import Cancelled, EventLoop

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["TrioEventLoop"]


class TrioEventLoop(EventLoop):
    """Runs vsengine's callbacks in a trio run.

    ``nursery`` hosts the tasks that wait for :meth:`to_thread` workers (without one they are
    system tasks of the run); ``limiter`` limits those worker threads (trio's default limiter if
    ``None``). Create or attach it inside the trio run (``set_loop(TrioEventLoop(nursery))``).
    Detaching never cancels the nursery: it belongs to you.
    """

    def __init__(
        self, nursery: trio.Nursery | None = None, limiter: trio.CapacityLimiter | None = None
    ) -> None:
        self.nursery = nursery
        self._limiter = limiter
        self._token = _current_token()

    def attach(self) -> None:
        self._token = _current_token() or self._token

    def detach(self) -> None:
        pass  # work already scheduled still completes; the nursery is the user's

    @property
    def limiter(self) -> trio.CapacityLimiter:
        """The limiter of :meth:`to_thread` workers (settable; ``None``: trio's default limiter)."""
        return self._limiter if self._limiter is not None else trio.to_thread.current_default_thread_limiter()

    @limiter.setter
    def limiter(self, limiter: trio.CapacityLimiter | None) -> None:
        self._limiter = limiter

    @property
    def token(self) -> trio.lowlevel.TrioToken:
        """The trio run this loop schedules onto (settable)."""
        if self._token is None:
            raise RuntimeError(
                "TrioEventLoop is not attached: create it or call vsengine.loops.set_loop() inside "
                "trio.run()."
            )
        return self._token

    @token.setter
    def token(self, token: trio.lowlevel.TrioToken | None) -> None:
        self._token = token

    def _in_trio_thread(self) -> bool:
        try:
            return trio.lowlevel.current_trio_token() is self._token
        except RuntimeError:
            return False

    def _soon(self, future: Future[object], callback: Callable[[], object]) -> None:
        try:
            self.token.run_sync_soon(callback)
        except (trio.RunFinishedError, RuntimeError) as exc:
            future.set_exception(RuntimeError(f"The trio run is not available: {exc}"))

    def from_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        self._soon(future, functools.partial(run_into, future, call, trio.Cancelled))  # type: ignore[arg-type]
        return future

    def to_thread[**P, R](self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)

        in_thread = functools.partial(trio.to_thread.run_sync, run_into, future, call, limiter=self._limiter)
        run = functools.partial(await_worker, future, in_thread, trio.Cancelled)
        nursery = self.nursery

        def spawn() -> None:
            try:
                if nursery is None:
                    trio.lowlevel.spawn_system_task(run, name=func)
                else:
                    nursery.start_soon(run, name=func)
            except RuntimeError as exc:  # the nursery is closed
                if not future.done():
                    future.set_exception(exc)

        if self._in_trio_thread():
            spawn()
        else:
            self._soon(future, spawn)  # type: ignore[arg-type]
        return future

    def next_cycle(self) -> Future[None]:
        future: Future[None] = Future()
        deadline = math.inf
        if self._in_trio_thread():
            with contextlib.suppress(RuntimeError):
                deadline = trio.current_effective_deadline()

        def continuation() -> None:
            if future.done():
                return
            if deadline <= trio.current_time() or (
                self.nursery is not None and self.nursery.cancel_scope.cancel_called
            ):
                future.set_exception(Cancelled())
            else:
                future.set_result(None)

        self._soon(future, continuation)  # type: ignore[arg-type]
        return future

    async def await_future[R](self, future: Future[R]) -> R:
        if future.done():
            await trio.lowlevel.checkpoint()
        else:
            token = trio.lowlevel.current_trio_token()
            event = trio.Event()

            def wake(_: Future[R]) -> None:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(event.set)

            Future.add_done_callback(future, wake)  # plain: `wake` needs no environment
            try:
                await event.wait()
            except trio.Cancelled:
                future.cancel()
                raise
        with self.wrap_cancelled():
            return future.result()

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except (Cancelled, CancelledError) as exc:  # CancelledError: the awaited future was cancelled
            raise trio.Cancelled._create() from exc

    def wrap_cancelled(self) -> contextlib.AbstractContextManager[None]:
        return self._translate()

    def __repr__(self) -> str:
        return f"<TrioEventLoop nursery={self.nursery!r}>"


def _current_token() -> trio.lowlevel.TrioToken | None:
    try:
        return trio.lowlevel.current_trio_token()
    except RuntimeError:  # not inside a trio run
        return None
