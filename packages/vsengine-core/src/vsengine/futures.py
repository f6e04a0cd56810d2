"""Futures that work the same from threads, asyncio, trio, anyio and Qt.

:class:`UnifiedFuture` is a :class:`concurrent.futures.Future` you can also ``await`` (through the
active :class:`~vsengine.loops.EventLoop`), chain (:meth:`~UnifiedFuture.then`,
:meth:`~UnifiedFuture.map`, :meth:`~UnifiedFuture.catch`) and use as a (async) context manager
for its result. :class:`UnifiedIterator` iterates over a sequence of futures, synchronously or
with ``async for``. :func:`unified` turns a function returning a future (or a generator of
futures) into one returning these types.

Cancellation propagates: a future derived with ``then``/``map``/``catch``/``from_future`` is
cancelled when its source is cancelled, so no derived future stays pending forever.

Nothing here creates reference cycles: a source refers to what is derived from it, never the other
way round (a ``from_future`` wrapper refers to its source weakly, only to cancel it). Results
(frames, bytes) are therefore freed by reference counting as soon as the last user lets go of them,
without waiting for the garbage collector.
"""

from __future__ import annotations

import functools
import inspect
import logging
import weakref
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, Self, cast, overload

from vsengine.loops import get_loop, keep_environment

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator
    from types import TracebackType

__all__ = ["UnifiedFuture", "UnifiedIterator", "unified"]

_logger = logging.getLogger(__name__)


def _settle_from[T](target: Future[T], source: Future[T]) -> None:
    """Copy the outcome of the done future ``source`` into ``target``."""
    if target.done():
        return
    if source.cancelled():
        target.cancel()
        return
    exc = source.exception()
    try:
        if exc is not None:
            target.set_exception(exc)
        else:
            target.set_result(source.result())
    except Exception:  # target was cancelled concurrently
        if not target.done():
            raise


class UnifiedFuture[T](
    Future[T],
    AbstractContextManager[Any],
    AbstractAsyncContextManager[Any],
):
    """A :class:`concurrent.futures.Future` with chaining, awaiting and context-manager delegation."""

    # -- construction ---------------------------------------------------------------------------------

    @classmethod
    def from_call[**P](
        cls, func: Callable[P, Future[T]], *args: P.args, **kwargs: P.kwargs
    ) -> UnifiedFuture[T]:
        """Call ``func`` and wrap the future it returns; if it raises, return a failed future."""
        try:
            future = func(*args, **kwargs)
        except Exception as exc:
            return cls.reject(exc)
        return cls.from_future(future)

    @classmethod
    def from_future(cls, future: Future[T]) -> UnifiedFuture[T]:
        """Wrap ``future``. Cancelling either one cancels the other (if it has not started)."""
        if isinstance(future, cls):
            return future
        result: UnifiedFuture[T] = cls()
        Future.add_done_callback(future, functools.partial(_settle_from, result))
        # Weakly: a strong link back would make a cycle (source -> result -> source) that keeps the
        # result alive until the garbage collector runs. A source nobody else holds can never
        # complete, so there is nothing to cancel once it is gone.
        Future.add_done_callback(result, functools.partial(_cancel_source, weakref.ref(future)))
        return result

    @classmethod
    def resolve(cls, value: T) -> UnifiedFuture[T]:
        """A future that has already succeeded with ``value``."""
        future: UnifiedFuture[T] = cls()
        future.set_result(value)
        return future

    @classmethod
    def reject(cls, error: BaseException) -> UnifiedFuture[T]:
        """A future that has already failed with ``error``."""
        future: UnifiedFuture[T] = cls()
        future.set_exception(error)
        return future

    # -- callbacks ----------------------------------------------------------------------------------

    def add_done_callback(self, fn: Callable[[Future[T]], object]) -> None:
        """Like :meth:`concurrent.futures.Future.add_done_callback`, in the current environment.

        ``fn`` runs in the VapourSynth environment that is current when it is added.
        """
        super().add_done_callback(keep_environment(fn))

    def add_loop_callback(self, func: Callable[[UnifiedFuture[T]], object]) -> None:
        """Run ``func(self)`` on the active event loop once this future is done.

        An exception raised by ``func`` is logged (logger ``vsengine.futures``), never lost.
        """

        def on_done(done: Future[T]) -> None:
            # `done` is this future: capturing `self` here would make a cycle through its callbacks.
            get_loop().from_thread(func, cast("UnifiedFuture[T]", done)).add_done_callback(_log_failure)

        self.add_done_callback(on_done)

    # -- chaining -----------------------------------------------------------------------------------

    def then[V](
        self,
        success_cb: Callable[[T], V] | None,
        err_cb: Callable[[BaseException], V] | None,
    ) -> UnifiedFuture[V]:
        """A future of ``success_cb(result)`` or ``err_cb(exception)``.

        A missing callback passes the result or exception through. If this future is cancelled,
        the derived future is cancelled too (the callbacks are not called).
        """
        derived: UnifiedFuture[V] = UnifiedFuture()
        success = keep_environment(success_cb) if success_cb is not None else None
        failure = keep_environment(err_cb) if err_cb is not None else None

        # `on_done` gets this future as its argument; it must not capture `self` (that would be a
        # cycle through this future's callbacks, keeping the result alive until the next GC run).
        def on_done(source: Future[T]) -> None:
            if derived.done():
                return
            if source.cancelled():
                derived.cancel()
                return
            try:
                exc = source.exception()
                if exc is not None:
                    if failure is None:
                        derived.set_exception(exc)
                        return
                    value = failure(exc)
                elif success is None:
                    value = source.result()  # type: ignore[assignment]
                else:
                    value = success(source.result())
            except BaseException as error:
                if not derived.done():
                    derived.set_exception(error)
            else:
                if not derived.done():
                    derived.set_result(value)

        Future.add_done_callback(self, on_done)
        return derived

    def map[V](self, cb: Callable[[T], V]) -> UnifiedFuture[V]:
        """A future of ``cb(result)``; failures pass through."""
        return self.then(cb, None)

    def catch[V](self, cb: Callable[[BaseException], V]) -> UnifiedFuture[T | V]:
        """A future of the result, or of ``cb(exception)`` if this future fails."""
        return self.then(None, cb)

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
        raise TypeError(f"The result of this future ({type(obj).__name__}) is not a context manager.")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        obj = self.result()
        if isinstance(obj, AbstractContextManager):
            return bool(obj.__exit__(exc_type, exc, tb))
        raise TypeError(f"The result of this future ({type(obj).__name__}) is not a context manager.")

    async def __aenter__(self) -> Any:
        obj = await self
        if isinstance(obj, AbstractAsyncContextManager):
            return await obj.__aenter__()
        if isinstance(obj, AbstractContextManager):
            return obj.__enter__()
        raise TypeError(f"The result of this future ({type(obj).__name__}) is not a context manager.")

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
        raise TypeError(f"The result of this future ({type(obj).__name__}) is not a context manager.")


def _cancel_source(source_ref: weakref.ref[Future[Any]], future: Future[Any]) -> None:
    if future.cancelled() and (source := source_ref()) is not None:
        source.cancel()


def _log_failure(future: Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        _logger.error("A loop callback raised an exception.", exc_info=exc)


class _AsCompleted[T]:
    """The state of one :meth:`UnifiedIterator.run_as_completed` run.

    A class rather than nested closures: closures that call each other form a reference cycle,
    which would keep the iterator (and whatever its futures hold) alive until the garbage collector
    runs.
    """

    def __init__(self, futures: Iterator[Future[T]], callback: Callable[[Future[T]], Any]) -> None:
        self.futures = futures
        self.callback = callback
        self.state: UnifiedFuture[None] = UnifiedFuture()

    def run_one(self, future: Future[T]) -> bool:
        state = self.state
        try:
            keep_going = self.callback(future)
        except BaseException as exc:
            if not state.done():
                state.set_exception(exc)
            return False
        if keep_going is not None and not keep_going:
            if not state.done():
                state.set_result(None)
            return False
        return True

    def resume(self, future: Future[T]) -> None:
        if not self.state.done() and self.run_one(future):
            self.advance()

    def advance(self) -> None:
        state = self.state
        while not state.done():
            try:
                future = next(self.futures)
            except StopIteration:
                if not state.done():
                    state.set_result(None)
                return
            except BaseException as exc:
                if not state.done():
                    state.set_exception(exc)
                return
            if not future.done():
                future.add_done_callback(self.resume)
                return
            if not self.run_one(future):
                return


class UnifiedIterator[T]:
    """An iterator of futures, consumed one result at a time (``for`` or ``async for``)."""

    def __init__(self, future_iterable: Iterator[Future[T]]) -> None:
        self.future_iterable = iter(future_iterable)

    @classmethod
    def from_call[**P](
        cls, func: Callable[P, Iterator[Future[T]]], *args: P.args, **kwargs: P.kwargs
    ) -> UnifiedIterator[T]:
        """Call ``func`` and iterate over the futures it yields."""
        return cls(func(*args, **kwargs))

    @property
    def futures(self) -> Iterator[Future[T]]:
        """The underlying iterator of futures."""
        return self.future_iterable

    def run_as_completed(self, callback: Callable[[Future[T]], Any]) -> UnifiedFuture[None]:
        """Call ``callback(future)`` for each future, in order, once it is done, without blocking.

        Returning ``False`` from ``callback`` stops the iteration. The returned future completes
        when the iteration ends, fails with the first exception raised by ``callback`` or by the
        iterator, and stops the iteration when it is cancelled.
        """
        runner = _AsCompleted(self.future_iterable, callback)
        runner.advance()
        return runner.state

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
