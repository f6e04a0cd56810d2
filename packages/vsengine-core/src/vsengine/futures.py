"""Futures that work the same from threads, asyncio, trio, anyio and Qt.

:class:`UnifiedFuture` is a :class:`concurrent.futures.Future` you can also ``await`` (through the
active :class:`~vsengine.loops.EventLoop`), chain (:meth:`~UnifiedFuture.then`,
:meth:`~UnifiedFuture.map`, :meth:`~UnifiedFuture.catch`, :meth:`~UnifiedFuture.add_loop_callback`)
and use as a (async) context manager for its result. :class:`UnifiedIterator` iterates over a
sequence of futures, synchronously, with ``async for``, with callbacks
(:meth:`~UnifiedIterator.consume`, :meth:`~UnifiedIterator.for_each`) or in completion order
(:func:`as_completed`). :func:`unified` turns a function returning a future (or a generator of
futures) into one returning these types.

Cancellation propagates both ways. Cancelling a future cancels every future derived from it, so
no derived future stays pending forever. Cancelling a derived future cancels its source too,
unless the derivation was given a ``cancel_cb``, which is called instead.

Nothing here creates reference cycles: a source refers to what is derived from it, never the other
way round (a derived future refers to its source weakly, only to cancel it). Results (frames,
bytes) are therefore freed by reference counting as soon as the last user lets go of them,
without waiting for the garbage collector.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Iterator
from concurrent.futures import CancelledError, Future, InvalidStateError
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, Self, cast, overload

from vsengine.loops import get_loop, keep_environment

if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncGenerator, Callable, Generator, Iterable
    from types import TracebackType

    import trio

__all__ = ["UnifiedFuture", "UnifiedIterator", "as_completed", "unified"]

_logger = logging.getLogger(__name__)

type _AnyFuture[T] = Future[T] | asyncio.Future[T]


class _NotAContextManagerError(TypeError, NotImplementedError):
    """``with``/``async with`` on a future whose result is not a context manager.

    A :class:`TypeError` (the result has the wrong type) that is also the
    :class:`NotImplementedError` vsengine 1.x and 2.0 raise here.
    """


def _not_a_context_manager(obj: object) -> _NotAContextManagerError:
    return _NotAContextManagerError(
        f"The result of this future ({type(obj).__name__}) is not a context manager, "
        "so the future cannot be used in a `with` or `async with` statement."
    )


class UnifiedFuture[T](
    Future[T],
    AbstractContextManager[Any],
    AbstractAsyncContextManager[Any],
    Awaitable[T],
):
    """A :class:`concurrent.futures.Future` with chaining, awaiting and context-manager delegation."""

    # -- construction ---------------------------------------------------------------------------------

    @overload
    @classmethod
    def from_call[S, **P](
        cls, func: Callable[P, Future[S]], *args: P.args, **kwargs: P.kwargs
    ) -> UnifiedFuture[S]: ...  # pragma: no cover

    @overload
    @classmethod
    def from_call[S, **P](
        cls, func: Callable[P, S], *args: P.args, **kwargs: P.kwargs
    ) -> UnifiedFuture[S]: ...  # pragma: no cover

    @classmethod
    def from_call(cls, func: Callable[..., Any], *args: Any, **kwargs: Any) -> UnifiedFuture[Any]:
        """Call ``func`` and wrap what it returns.

        A :class:`concurrent.futures.Future` is wrapped with :meth:`from_future`; any other value
        becomes an already completed future. If ``func`` raises, a failed future is returned.
        """
        try:
            value = func(*args, **kwargs)
        except Exception as exc:
            return cls.reject(exc)
        if isinstance(value, Future):
            return cls.from_future(value)
        return cls.resolve(value)

    @classmethod
    def from_future[S](
        cls: type[UnifiedFuture[Any]], future: Future[S] | asyncio.Future[S]
    ) -> UnifiedFuture[S]:
        """Wrap ``future``, a :class:`concurrent.futures.Future` or an :class:`asyncio.Future` (or Task).

        A future of this class is returned as it is. Cancelling either one cancels the other (if
        it has not started). An asyncio future is only touched on its own loop's thread; if that
        loop is closed, its state is copied as it is (a pending one counts as cancelled).
        """
        if isinstance(future, cls):
            return future
        result: UnifiedFuture[S] = cls()
        if isinstance(future, Future):
            Future.add_done_callback(future, functools.partial(_settle_from, result))
            # Weakly: a strong link back would make a cycle (source -> result -> source) that keeps
            # the result alive until the garbage collector runs. A source nobody else holds can
            # never complete, so there is nothing to cancel once it is gone.
            Future.add_done_callback(result, functools.partial(_cancel_source, weakref.ref(future)))
            return result
        if _is_asyncio_future(future):
            # Strongly: an asyncio future drops its callbacks once done, so there is no lasting
            # cycle, and a task held only through this wrapper stays alive.
            deliver = functools.partial(_settle_from, result)
            _on_loop_of(
                future,
                functools.partial(future.add_done_callback, deliver),
                if_closed=functools.partial(_settle_from_closed, result, future),
            )
            Future.add_done_callback(result, functools.partial(_cancel_asyncio_source, future))
            return result
        raise TypeError(
            "UnifiedFuture.from_future() needs a concurrent.futures.Future or an asyncio Future or "
            f"Task, not {type(future).__name__}."
        )

    @classmethod
    def from_trio_task[S, *Ts](
        cls: type[UnifiedFuture[Any]],
        nursery: trio.Nursery,
        async_fn: Callable[[*Ts], Awaitable[S]],
        *args: *Ts,
        trio_token: trio.lowlevel.TrioToken | None = None,
    ) -> UnifiedFuture[S]:
        """Start ``async_fn(*args)`` in ``nursery``; the future completes with its outcome.

        Cancelling the future cancels the task (from any thread; ``trio_token`` is the run to
        reach, the current one by default), and a task cancelled by trio cancels the future. A
        future cancelled before the task starts never runs ``async_fn``.
        """
        import trio

        result: UnifiedFuture[S] = cls()
        token = trio_token if trio_token is not None else trio.lowlevel.current_trio_token()
        scope = trio.CancelScope()
        Future.add_done_callback(result, functools.partial(_cancel_trio_scope, token, scope))
        nursery.start_soon(_run_trio_task, result, scope, async_fn, *args, name=async_fn)
        return result

    @classmethod
    def resolve[S](cls: type[UnifiedFuture[Any]], value: S) -> UnifiedFuture[S]:
        """A future that has already succeeded with ``value``."""
        future: UnifiedFuture[S] = cls()
        future.set_result(value)
        return future

    @classmethod
    def reject(cls: type[UnifiedFuture[Any]], error: BaseException) -> UnifiedFuture[Any]:
        """A future that has already failed with ``error``."""
        future: UnifiedFuture[Any] = cls()
        future.set_exception(error)
        return future

    # -- settling -----------------------------------------------------------------------------------

    def try_set_result(self, result: T) -> bool:
        """Set the result unless the future is already done (or cancelled); ``True`` if it was set."""
        try:
            self.set_result(result)
        except InvalidStateError:
            return False
        return True

    def try_set_exception(self, exception: BaseException) -> bool:
        """Set the exception unless the future is already done (or cancelled); ``True`` if it was set."""
        try:
            self.set_exception(exception)
        except InvalidStateError:
            return False
        return True

    # -- callbacks ----------------------------------------------------------------------------------

    def add_done_callback(self, fn: Callable[[Future[T]], object]) -> None:
        """Like :meth:`concurrent.futures.Future.add_done_callback`, in the current environment.

        ``fn`` runs in the VapourSynth environment that is current when it is added.
        """
        super().add_done_callback(keep_environment(fn))

    def add_loop_callback(
        self,
        func: Callable[[UnifiedFuture[T]], object],
        cancel_cb: Callable[[], object] | None = None,
    ) -> UnifiedFuture[T]:
        """Run ``func(self)`` on the active event loop once this future is done (also if cancelled).

        Returns a future that completes like this one once ``func`` has returned, so callbacks
        chain: ``future.add_loop_callback(a).add_loop_callback(b)`` runs ``b`` after ``a``. If
        ``func`` raises, the returned future fails with its exception, which is also logged
        (logger ``vsengine.futures``). Cancelling the returned future before ``func`` runs skips
        it, and cancels this future unless ``cancel_cb`` is given, which then runs on the loop
        instead. ``func`` runs in the VapourSynth environment current now.
        """
        derived: UnifiedFuture[T] = type(self)()
        Future.add_done_callback(self, functools.partial(_run_loop_callback, derived, keep_environment(func)))
        self._link_cancellation(derived, cancel_cb, on_loop=True)
        return derived

    # -- chaining -----------------------------------------------------------------------------------

    @overload
    def then[S](
        self,
        success_cb: Callable[[T], S],
        err_cb: None = None,
        cancel_cb: Callable[[], object] | None = None,
        *,
        on_loop: bool = False,
    ) -> UnifiedFuture[S]: ...  # pragma: no cover

    @overload
    def then[V](
        self,
        success_cb: None = None,
        *,
        err_cb: Callable[[BaseException], V],
        cancel_cb: Callable[[], object] | None = None,
        on_loop: bool = False,
    ) -> UnifiedFuture[T | V]: ...  # pragma: no cover

    @overload
    def then[V](
        self,
        success_cb: None,
        err_cb: Callable[[BaseException], V],
        cancel_cb: Callable[[], object] | None = None,
        *,
        on_loop: bool = False,
    ) -> UnifiedFuture[T | V]: ...  # pragma: no cover

    @overload
    def then[S, V](
        self,
        success_cb: Callable[[T], S],
        err_cb: Callable[[BaseException], V],
        cancel_cb: Callable[[], object] | None = None,
        *,
        on_loop: bool = False,
    ) -> UnifiedFuture[S | V]: ...  # pragma: no cover

    @overload
    def then(
        self,
        success_cb: None = None,
        err_cb: None = None,
        cancel_cb: Callable[[], object] | None = None,
        *,
        on_loop: bool = False,
    ) -> UnifiedFuture[T]: ...  # pragma: no cover

    def then(
        self,
        success_cb: Callable[[T], Any] | None = None,
        err_cb: Callable[[BaseException], Any] | None = None,
        cancel_cb: Callable[[], object] | None = None,
        *,
        on_loop: bool = False,
    ) -> UnifiedFuture[Any]:
        """A future of ``success_cb(result)`` or ``err_cb(exception)``.

        A missing callback passes the result or exception through; an exception raised by a
        callback fails the derived future. The callbacks run in the VapourSynth environment
        current now: on the active event loop with ``on_loop=True``, otherwise on whichever
        thread completes this future.

        If this future is cancelled, the derived future is cancelled too (the callbacks are not
        called). Cancelling the derived future skips a callback that has not run yet and cancels
        this future, unless ``cancel_cb`` is given: it is called instead (on the loop with
        ``on_loop=True``).
        """
        derived: UnifiedFuture[Any] = type(self)()
        success = keep_environment(success_cb) if success_cb is not None else None
        failure = keep_environment(err_cb) if err_cb is not None else None
        Future.add_done_callback(self, functools.partial(_run_then, derived, success, failure, on_loop))
        self._link_cancellation(derived, cancel_cb, on_loop=on_loop)
        return derived

    def map[V](
        self,
        cb: Callable[[T], V],
        cancel_cb: Callable[[], object] | None = None,
        *,
        on_loop: bool = False,
    ) -> UnifiedFuture[V]:
        """A future of ``cb(result)``; failures pass through. See :meth:`then`."""
        return self.then(cb, None, cancel_cb, on_loop=on_loop)

    def catch[V](
        self,
        cb: Callable[[BaseException], V],
        cancel_cb: Callable[[], object] | None = None,
        *,
        on_loop: bool = False,
    ) -> UnifiedFuture[T | V]:
        """A future of the result, or of ``cb(exception)`` if this future fails. See :meth:`then`."""
        return self.then(None, cb, cancel_cb, on_loop=on_loop)

    def _link_cancellation(
        self, derived: Future[Any], cancel_cb: Callable[[], object] | None, *, on_loop: bool
    ) -> None:
        """When ``derived`` is cancelled: call ``cancel_cb`` if given, else cancel this future."""
        if cancel_cb is None:
            Future.add_done_callback(derived, functools.partial(_cancel_source, weakref.ref(self)))
        else:
            Future.add_done_callback(
                derived, functools.partial(_run_cancel_cb, keep_environment(cancel_cb), on_loop)
            )

    # -- awaiting and context managers ----------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, T]:
        return get_loop().await_future(self).__await__()

    async def awaitable(self) -> T:
        """Await the result through the active event loop."""
        return await get_loop().await_future(self)

    def __enter__(self) -> Any:
        obj = self.result()
        if isinstance(obj, AbstractContextManager):
            return obj.__enter__()
        raise _not_a_context_manager(obj)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        obj = self.result()
        if isinstance(obj, AbstractContextManager):
            return bool(obj.__exit__(exc_type, exc, tb))
        raise _not_a_context_manager(obj)

    async def __aenter__(self) -> Any:
        obj = await self
        if isinstance(obj, AbstractAsyncContextManager):
            return await obj.__aenter__()
        if isinstance(obj, AbstractContextManager):
            return obj.__enter__()
        raise _not_a_context_manager(obj)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        obj = await self
        if isinstance(obj, AbstractAsyncContextManager):
            return bool(await obj.__aexit__(exc_type, exc, tb))
        if isinstance(obj, AbstractContextManager):
            return bool(obj.__exit__(exc_type, exc, tb))
        raise _not_a_context_manager(obj)


# -- the callbacks behind the chaining ---------------------------------------------------------------
# Module-level functions bound with functools.partial, never closures over `self`: a closure that
# captures a future and is stored in that future's own callbacks is a reference cycle.


def _settle_from[T](target: UnifiedFuture[T], source: _AnyFuture[T]) -> None:
    """Copy the outcome of the done future ``source`` into ``target`` (unless it is done already)."""
    if target.done():
        return
    if source.cancelled():
        target.cancel()
        return
    try:
        exc = source.exception()
    except CancelledError:  # cancelled between the two calls
        target.cancel()
        return
    if exc is not None:
        target.try_set_exception(exc)
    else:
        target.try_set_result(source.result())


def _cancel_source(source_ref: weakref.ref[Future[Any]], future: Future[Any]) -> None:
    if future.cancelled() and (source := source_ref()) is not None:
        source.cancel()


def _run_cancel_cb(cancel_cb: Callable[[], object], on_loop: bool, future: Future[Any]) -> None:
    if not future.cancelled():
        return
    if on_loop:
        get_loop().from_thread(cancel_cb).add_done_callback(_log_failure)
        return
    try:
        cancel_cb()
    except Exception:
        _logger.exception("A cancel_cb raised an exception.")


def _run_then[T](
    derived: UnifiedFuture[Any],
    on_success: Callable[[T], Any] | None,
    on_failure: Callable[[BaseException], Any] | None,
    on_loop: bool,
    source: Future[T],
) -> None:
    if derived.done():
        return
    if source.cancelled():
        derived.cancel()
        return
    exc = source.exception()
    callback: Callable[[Any], Any]
    argument: Any
    if exc is not None:
        if on_failure is None:
            derived.try_set_exception(exc)
            return
        callback, argument = on_failure, exc
    elif on_success is None:
        derived.try_set_result(source.result())
        return
    else:
        callback, argument = on_success, source.result()
    if on_loop:
        scheduled = get_loop().from_thread(_unless_cancelled, derived, callback, argument)
        Future.add_done_callback(scheduled, functools.partial(_settle_from, derived))
        return
    try:
        value = callback(argument)
    except BaseException as error:
        derived.try_set_exception(error)
    else:
        derived.try_set_result(value)


def _unless_cancelled[A, R](derived: Future[Any], callback: Callable[[A], R], argument: A) -> R | None:
    """On the loop: ``callback(argument)``, unless the future waiting for it was cancelled meanwhile."""
    return None if derived.cancelled() else callback(argument)


def _run_loop_callback[T](
    derived: UnifiedFuture[T], func: Callable[[UnifiedFuture[T]], object], source: Future[T]
) -> None:
    if derived.cancelled():
        return
    # `source` is the future add_loop_callback was called on (a UnifiedFuture).
    scheduled = get_loop().from_thread(_unless_cancelled, derived, func, cast("UnifiedFuture[T]", source))
    Future.add_done_callback(scheduled, functools.partial(_after_loop_callback, derived, source))


def _after_loop_callback[T](derived: UnifiedFuture[T], source: Future[T], scheduled: Future[object]) -> None:
    if scheduled.cancelled():
        derived.cancel()
        return
    exc = scheduled.exception()
    if exc is not None:
        _logger.error("A loop callback raised an exception.", exc_info=exc)
        derived.try_set_exception(exc)
        return
    _settle_from(derived, source)


def _log_failure(future: Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        _logger.error("A callback scheduled on the event loop raised an exception.", exc_info=exc)


# -- asyncio and trio sources ------------------------------------------------------------------------


def _is_asyncio_future(obj: object) -> bool:
    asyncio = sys.modules.get("asyncio")  # an asyncio future cannot exist before asyncio is imported
    return asyncio is not None and bool(asyncio.isfuture(obj))


def _on_loop_of(
    future: asyncio.Future[Any], action: Callable[[], object], if_closed: Callable[[], object]
) -> None:
    """Run ``action`` on the thread of ``future``'s loop (now if that is this thread); ``if_closed``
    instead if that loop is closed."""
    import asyncio

    loop = future.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        action()
        return
    if loop.is_closed():
        if_closed()
        return
    try:
        loop.call_soon_threadsafe(action)
    except RuntimeError:  # closed in the meantime
        if_closed()


def _settle_from_closed[T](target: UnifiedFuture[T], source: asyncio.Future[T]) -> None:
    """``source``'s loop is closed: it can never complete any more."""
    if source.done():
        _settle_from(target, source)
    else:
        target.cancel()


def _cancel_asyncio_source(source: asyncio.Future[Any], future: Future[Any]) -> None:
    if future.cancelled() and not source.done():
        _on_loop_of(source, source.cancel, if_closed=functools.partial(_cancel_on_closed_loop, source))


def _cancel_on_closed_loop(source: asyncio.Future[Any]) -> None:
    try:
        source.cancel()
    except RuntimeError:  # scheduling its callbacks on the closed loop failed; it is cancelled
        pass


def _cancel_trio_scope(token: trio.lowlevel.TrioToken, scope: trio.CancelScope, future: Future[Any]) -> None:
    if future.cancelled():
        import trio

        try:
            token.run_sync_soon(scope.cancel)
        except trio.RunFinishedError:  # the task cannot be running any more
            pass


async def _run_trio_task[S, *Ts](
    result: UnifiedFuture[S], scope: trio.CancelScope, async_fn: Callable[[*Ts], Awaitable[S]], *args: *Ts
) -> None:
    import trio

    from vsengine.loops import Cancelled

    if result.cancelled():
        return
    try:
        with scope:
            value = await async_fn(*args)
    except trio.Cancelled:  # cancelled from outside: the nursery must still see it
        result.cancel()
        raise
    except BaseException as exc:
        result.try_set_exception(exc)
        if not isinstance(exc, Exception | Cancelled):
            raise  # KeyboardInterrupt, SystemExit: the run must still end with it
    else:
        if scope.cancelled_caught:
            result.cancel()
        else:
            result.try_set_result(value)


# -- iterating over futures --------------------------------------------------------------------------


def _set_none_if_pending(waiter: Future[None], _: object) -> None:
    if not waiter.done():
        try:
            waiter.set_result(None)
        except InvalidStateError:  # cancelled concurrently
            pass


class _Consumer[T]:
    """One :meth:`UnifiedIterator.consume` (or ``run_as_completed``) run.

    Callbacks run on the event loop, one future at a time, in order; after each one the loop gets
    a cycle (:meth:`~vsengine.loops.EventLoop.next_cycle`). A class rather than closures that
    call each other: those would form a reference cycle keeping the iterator (and whatever its
    futures hold) alive until the garbage collector runs.
    """

    def __init__(
        self,
        futures: Iterator[Future[T]],
        callback: Callable[[Any], object],
        state: Future[None],
        wrap: bool,
    ) -> None:
        self.futures = futures
        self.callback = keep_environment(callback)
        self.state = state
        self.wrap = wrap

    @classmethod
    def start(
        cls,
        futures: Iterator[Future[T]],
        callback: Callable[[Any], object],
        future_factory: Callable[[], Future[None]] | None,
        wrap: bool,
    ) -> Future[None]:
        """Start a run on the event loop; return its state future."""
        state = future_factory() if future_factory is not None else UnifiedFuture[None]()
        consumer = cls(futures, callback, state, wrap)
        consumer.hop(consumer.advance)
        return state

    def stopped(self) -> bool:
        """Whether the run is over (finished, failed or cancelled); then it lets go of the iterator.

        A pending future's callbacks refer to this object: holding on to an iterator (a list of
        futures) would make a cycle that keeps results of futures completing later alive.
        """
        if not self.state.done():
            return False
        self.futures = iter(())
        return True

    def fail(self, exc: BaseException) -> None:
        if not self.state.done():
            try:
                self.state.set_exception(exc)
            except InvalidStateError:  # settled concurrently
                pass
        self.stopped()

    def finish(self) -> None:
        _set_none_if_pending(self.state, None)
        self.stopped()

    def hop(self, method: Callable[..., None], *args: Any) -> None:
        """Run ``method(*args)`` on the event loop; if the loop cannot run it, the run fails."""
        try:
            scheduled = get_loop().from_thread(method, *args)
        except Exception as exc:  # a loop that raises instead of failing the future
            self.fail(exc)
            return
        Future.add_done_callback(scheduled, self.hop_done)

    def hop_done(self, scheduled: Future[None]) -> None:
        if scheduled.cancelled():
            self.state.cancel()
        elif (exc := scheduled.exception()) is not None:
            self.fail(exc)

    def advance(self) -> None:
        """On the loop: take futures from the iterator until one is pending or the run ends."""
        while not self.stopped():
            try:
                future = next(self.futures)
            except StopIteration:
                self.finish()
                return
            except BaseException as exc:
                self.fail(exc)
                return
            if not future.done():
                Future.add_done_callback(future, self.ready)
                return
            if not self.deliver(future):
                return

    def ready(self, future: Future[T]) -> None:
        """Any thread: ``future`` is done."""
        if not self.stopped():
            self.hop(self.resume, future)

    def resume(self, future: Future[T]) -> None:
        if self.deliver(future):
            self.advance()

    def deliver(self, future: Future[T]) -> bool:
        """On the loop: call the callback, then give the loop a cycle. ``True``: go on right now."""
        if self.stopped():
            return False
        try:
            keep_going = self.callback(UnifiedFuture.from_future(future) if self.wrap else future)
        except BaseException as exc:
            self.fail(exc)
            return False
        if keep_going is not None and not keep_going:
            self.finish()
            return False
        cycle = get_loop().next_cycle()
        if not cycle.done():
            Future.add_done_callback(cycle, self.cycled)
            return False
        return self.cycle_ok(cycle)

    def cycle_ok(self, cycle: Future[None]) -> bool:
        if cycle.cancelled():
            self.state.cancel()
            return False
        if (exc := cycle.exception()) is not None:
            self.fail(exc)
            return False
        return True

    def cycled(self, cycle: Future[None]) -> None:
        if self.cycle_ok(cycle) and not self.stopped():
            self.hop(self.advance)


class UnifiedIterator[T](Iterator[T], AsyncIterator[T]):
    """An iterator of futures, consumed one result at a time (``for`` or ``async for``)."""

    def __init__(self, future_iterable: Iterable[Future[T]]) -> None:
        self.future_iterable: Iterator[Future[T]] = iter(future_iterable)

    @classmethod
    def from_call[**P](
        cls, func: Callable[P, Iterable[Future[T]]], *args: P.args, **kwargs: P.kwargs
    ) -> UnifiedIterator[T]:
        """Call ``func`` and iterate over the futures it yields."""
        return cls(func(*args, **kwargs))

    @property
    def futures(self) -> Iterator[Future[T]]:
        """The underlying iterator of futures."""
        return self.future_iterable

    @overload
    def consume(
        self, cb: Callable[[UnifiedFuture[T]], object]
    ) -> UnifiedFuture[None]: ...  # pragma: no cover

    @overload
    def consume[U: Future[None]](
        self, cb: Callable[[UnifiedFuture[T]], object], future_factory: Callable[[], U]
    ) -> U: ...  # pragma: no cover

    def consume(
        self,
        cb: Callable[[UnifiedFuture[T]], object],
        future_factory: Callable[[], Future[None]] | None = None,
    ) -> Future[None]:
        """Call ``cb(future)`` on the event loop for each future, in order, once it is done.

        ``cb`` gets the future as a :class:`UnifiedFuture` (check it for an exception) and runs in
        the VapourSynth environment current now; after each call the loop gets a cycle. Returning
        a false value other than ``None`` stops early. Nothing blocks: the returned future
        (``future_factory()``, a ``UnifiedFuture`` by default) completes when the iteration ends,
        fails with the first exception raised by ``cb``, the iterator or the loop, and stops the
        iteration when it is cancelled.
        """
        return _Consumer.start(self.future_iterable, cb, future_factory, wrap=True)

    @overload
    def run_as_completed(
        self, callback: Callable[[Future[T]], object]
    ) -> UnifiedFuture[None]: ...  # pragma: no cover

    @overload
    def run_as_completed[U: Future[None]](
        self, callback: Callable[[Future[T]], object], future_factory: Callable[[], U]
    ) -> U: ...  # pragma: no cover

    def run_as_completed(
        self,
        callback: Callable[[Future[T]], object],
        future_factory: Callable[[], Future[None]] | None = None,
    ) -> Future[None]:
        """The 1.x name of :meth:`consume`: the same, but ``callback`` gets the futures as they are."""
        return _Consumer.start(self.future_iterable, callback, future_factory, wrap=False)

    async def for_each(
        self,
        callback: Callable[[UnifiedFuture[T]], object],
        *,
        yield_cycles: bool = True,
    ) -> None:
        """Await each future in order and call ``callback(future)`` with it (awaiting what it returns).

        ``callback`` gets the future as a :class:`UnifiedFuture` (check it for an exception) and
        runs in the VapourSynth environment current now. Returning a false value other than
        ``None`` stops early; an exception raised by ``callback`` propagates. With
        ``yield_cycles`` the loop gets a cycle after each callback.
        """
        callback = keep_environment(callback)
        loop = get_loop()
        for future in self.future_iterable:
            if not future.done():
                waiter: Future[None] = Future()
                Future.add_done_callback(future, functools.partial(_set_none_if_pending, waiter))
                await loop.await_future(waiter)
            outcome = callback(UnifiedFuture.from_future(future))
            if inspect.isawaitable(outcome):
                outcome = await outcome
            if outcome is not None and not outcome:
                return
            if yield_cycles:
                await loop.await_future(loop.next_cycle())

    def as_completed(self, *, concurrency: int | None = None) -> AsyncGenerator[UnifiedFuture[T]]:
        """:func:`as_completed` over this iterator's futures."""
        return as_completed(self.future_iterable, concurrency=concurrency)

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> T:
        return next(self.future_iterable).result()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        try:
            future = next(self.future_iterable)
        except StopIteration:
            raise StopAsyncIteration from None
        return await UnifiedFuture.from_future(future)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} over {self.future_iterable!r}>"


class _Completions[T]:
    """Futures in the order they complete, for one :func:`as_completed` run."""

    def __init__(self) -> None:
        self.done: deque[Future[T]] = deque()
        self.waiter: Future[None] | None = None
        self.closed = False

    def add(self, future: Future[T]) -> None:
        """Any thread: ``future`` has completed."""
        if self.closed:  # nobody will take it: keeping it would make a cycle through its callbacks
            return
        self.done.append(future)
        if (waiter := self.waiter) is not None:
            _set_none_if_pending(waiter, None)

    async def next(self) -> Future[T]:
        while not self.done:
            waiter: Future[None] = Future()
            self.waiter = waiter
            if self.done:  # completed before the waiter was published
                break
            await get_loop().await_future(waiter)
        self.waiter = None
        return self.done.popleft()

    def close(self) -> None:
        self.closed = True
        self.done.clear()


def as_completed[S](
    iterable: Iterable[Future[S]], *, concurrency: int | None = None
) -> AsyncGenerator[UnifiedFuture[S]]:
    """Yield the futures of ``iterable`` as they complete, with at most ``concurrency`` taken at once.

    Futures are taken from ``iterable`` only as earlier ones complete, so an endless or very long
    iterable (frame requests) is consumed with bounded memory. Each future is yielded, done, as
    a :class:`UnifiedFuture` (check it for an exception). ``concurrency`` defaults to the number
    of CPUs. Leaving early (``break``, an exception, ``aclose()``) cancels the futures taken and
    not yielded yet. Use it with ``async for`` through the active event loop.
    """
    if concurrency is None:
        concurrency = os.cpu_count() or 1
    elif isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(
            f"as_completed(): concurrency must be an int or None, not {type(concurrency).__name__}."
        )
    if concurrency <= 0:
        raise ValueError(
            f"as_completed(): concurrency must be greater than 0 (it is the number of futures "
            f"in flight), got {concurrency}."
        )
    return _as_completed(iter(iterable), concurrency)


async def _as_completed[S](
    futures: Iterator[Future[S]], concurrency: int
) -> AsyncGenerator[UnifiedFuture[S]]:
    completions: _Completions[S] = _Completions()
    in_flight: set[Future[S]] = set()
    try:
        while True:
            while len(in_flight) < concurrency:
                try:
                    future = next(futures)
                except StopIteration:
                    break
                in_flight.add(future)
                Future.add_done_callback(future, completions.add)
            if not in_flight:
                return
            finished = await completions.next()
            in_flight.discard(finished)
            yield UnifiedFuture.from_future(finished)
    finally:
        completions.close()
        for future in in_flight:
            future.cancel()


# -- @unified ----------------------------------------------------------------------------------------

type _Kind = Literal["auto", "future", "generator"]


@overload
def unified[**P, T](
    func: Callable[P, Iterator[Future[T]]], /
) -> Callable[P, UnifiedIterator[T]]: ...  # pragma: no cover


@overload
def unified[**P, T](func: Callable[P, Future[T]], /) -> Callable[P, UnifiedFuture[T]]: ...  # pragma: no cover


@overload
def unified(
    *,
    kind: _Kind = "auto",
    future_class: type[UnifiedFuture[Any]] = ...,
    iterable_class: type[UnifiedIterator[Any]] = ...,
) -> _UnifiedDecorator: ...  # pragma: no cover


def unified(
    func: Callable[..., Any] | None = None,
    /,
    *,
    kind: _Kind = "auto",
    future_class: type[UnifiedFuture[Any]] = UnifiedFuture,
    iterable_class: type[UnifiedIterator[Any]] = UnifiedIterator,
) -> Any:
    """Decorate a function returning a future (or a generator of futures).

    ``kind="future"``: the function returns a :class:`concurrent.futures.Future`; the decorated
    function returns a :class:`UnifiedFuture` (an exception raised by the function becomes a
    failed future). ``kind="generator"``: the function yields futures; the decorated function
    returns a :class:`UnifiedIterator`. ``kind="auto"`` (default) picks ``"generator"`` for
    generator functions and ``"future"`` otherwise. Use it as ``@unified`` or ``@unified(kind=...)``.
    """
    if kind not in ("auto", "future", "generator"):
        raise ValueError(f"unified(kind=...) must be 'auto', 'future' or 'generator', not {kind!r}.")
    decorator = _UnifiedDecorator(kind, future_class, iterable_class)
    if func is None:
        return decorator
    return decorator(func)


class _UnifiedDecorator:
    def __init__(
        self,
        kind: _Kind,
        future_class: type[UnifiedFuture[Any]],
        iterable_class: type[UnifiedIterator[Any]],
    ) -> None:
        self._kind = kind
        self._future_class = future_class
        self._iterable_class = iterable_class

    @overload
    def __call__[**P, T](self, func: Callable[P, Iterator[Future[T]]]) -> Callable[P, UnifiedIterator[T]]: ...

    @overload
    def __call__[**P, T](self, func: Callable[P, Future[T]]) -> Callable[P, UnifiedFuture[T]]: ...

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        kind = self._kind
        if kind == "auto":
            kind = "generator" if inspect.isgeneratorfunction(func) else "future"
        if kind == "generator":
            iterable_class = self._iterable_class

            @functools.wraps(func)
            def wrap_generator(*args: Any, **kwargs: Any) -> UnifiedIterator[Any]:
                return iterable_class.from_call(func, *args, **kwargs)

            return wrap_generator
        future_class = self._future_class

        @functools.wraps(func)
        def wrap_future(*args: Any, **kwargs: Any) -> UnifiedFuture[Any]:
            return future_class.from_call(func, *args, **kwargs)

        return wrap_future
