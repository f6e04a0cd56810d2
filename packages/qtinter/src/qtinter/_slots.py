"""``asyncslot``: use a coroutine function as a Qt slot.

Calling the wrapper creates a task through :meth:`QiBaseEventLoop.run_task`, which runs the first step
of the coroutine at once (so a ``clicked`` handler can disable its button before anything else
happens) and schedules the rest on the running qtinter loop.

The wrapper is a plain function whose positional parameters mirror the coroutine function's (same
number, same ones required; :data:`MAX_SIGNAL_ARGS` optional ones if it takes ``*args``), not a
``*args`` catch-all. That shape matters: PySide picks the overload of a signal with default arguments
(``clicked(bool checked = false)`` is two overloads) from the slot's number of parameters, giving a
``*args`` slot the one without arguments, and passes no more arguments than the slot takes; PyQt
retries a call with fewer arguments when the slot takes fewer. So the wrapper receives exactly what a
plain function with the coroutine function's signature would.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
import threading
import weakref
from asyncio.events import _get_running_loop
from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._base_events import QiBaseEventLoop
from ._bindings import QtCore
from ._qt import enum_member, make_signal, once

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

__all__ = ["MAX_SIGNAL_ARGS", "asyncslot"]

T = TypeVar("T")

#: ``asyncio.Task(..., eager_start=True)`` exists (3.12+); it swaps the current task itself.
_EAGER_START = sys.version_info >= (3, 12)
_Task: Any = asyncio.Task

#: How many signal arguments a slot wrapper can receive (Qt signals rarely have more than 4).
MAX_SIGNAL_ARGS = 10

_NO_LOOP = (
    "no qtinter event loop is running in this thread. Run the Qt application inside "
    "`with qtinter.using_asyncio_from_qt(): app.exec()`, or start asyncio with "
    "`asyncio.run(main(), loop_factory=qtinter.new_event_loop)`"
)


class _Missing:
    """Default of the wrapper's parameters: marks arguments the caller did not pass."""

    def __repr__(self) -> str:
        return "<no argument>"


MISSING: Any = _Missing()


def passed_arguments(args: tuple[Any, ...]) -> tuple[Any, ...]:
    end = len(args)
    while end and args[end - 1] is MISSING:
        end -= 1
    return args[:end]


@functools.cache
def _slot_maker(required: int, total: int) -> Callable[..., Callable[..., Any]]:
    """Make slot functions with *total* positional parameters, the first *required* without default.

    Generated source, as :func:`collections.namedtuple` does, because the parameters must be real
    ones (see the module docstring) and their number varies. Trailing arguments the caller did not
    pass are trimmed only when the last one is missing (one comparison on the common path).
    """
    names = [f"a{i}" for i in range(total)]
    params = [*names[:required], *(f"{name}=MISSING" for name in names[required:])]
    args = f"({''.join(n + ', ' for n in names)})"
    if total > required:
        body = f"        args = {args}\n        if {names[-1]} is MISSING:\n            args = passed(args)\n"
        args = "args"
    else:
        body = ""
    source = (
        "def make(launch, passed, MISSING):\n"
        f"    def slot({''.join(p + ', ' for p in params)}{'/, ' if params else ''}**kwargs):\n"
        f"{body}"
        f"        return launch({args}, kwargs)\n"
        "    return slot\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    return cast("Callable[..., Callable[..., Any]]", namespace["make"])


def _make_slot(
    launch: Callable[[tuple[Any, ...], dict[str, Any]], asyncio.Task[T]], fn: Callable[..., Any]
) -> Callable[..., asyncio.Task[T]]:
    """A slot function shaped like *fn*'s positional parameters (``*args``: MAX_SIGNAL_ARGS optional)."""
    limit = _positional_limit(fn)
    total = MAX_SIGNAL_ARGS if limit is None else limit
    maker = _slot_maker(min(_required_count(fn), total), total)
    return cast("Callable[..., asyncio.Task[T]]", maker(launch, passed_arguments, MISSING))


def _required_count(fn: Callable[..., Any]) -> int:
    """How many positional parameters of *fn* have no default (0 if its signature is opaque)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return 0
    return sum(
        1
        for parameter in signature.parameters.values()
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and parameter.default is inspect.Parameter.empty
    )


def _positional_limit(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments *fn* accepts, or None if it takes ``*args`` (or is opaque)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _describe(fn: object) -> str:
    if isinstance(fn, functools.partial):
        return f"functools.partial({_describe(fn.func)})"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return str(name) if name is not None else type(fn).__qualname__


def _checked(fn: object) -> Callable[..., Coroutine[Any, Any, Any]]:
    """*fn* if it is a coroutine function (or an object whose ``__call__`` is one), else TypeError."""
    if callable(fn) and (
        inspect.iscoroutinefunction(fn)
        or inspect.iscoroutinefunction(inspect.getattr_static(type(fn), "__call__", None))
    ):
        return fn
    raise TypeError(
        f"asyncslot() needs a coroutine function (defined with `async def`), got {fn!r}; "
        "connect a plain function to the signal directly"
    )


def _running_task_runner(name: str) -> Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(f"asyncslot {name}: {_NO_LOOP}") from None
    run_task = getattr(loop, "run_task", None)
    if run_task is None:
        raise RuntimeError(
            f"asyncslot {name}: the running event loop is a {type(loop).__qualname__}, not a qtinter "
            f"loop: {_NO_LOOP}"
        )
    return cast("Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]", run_task)


#: The tasks of slots that have not finished. Qt drops whatever a slot returns, and asyncio only keeps
#: weak references to tasks: a slot's task waiting on something only it references would otherwise
#: be garbage-collected in mid-flight ("Task was destroyed but it is pending!").
_running: set[asyncio.Task[Any]] = set()


async def _receiver_gone() -> Any:
    raise asyncio.CancelledError


async def _guarded(
    coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop, report: Callable[[asyncio.Task[T]], None]
) -> T:
    """Run *coro* as a slot's task: what a done callback would do, without one per task.

    A done callback costs every task a scheduled callback (about a third of a slot's cost); this
    frame costs far less. It drops the task from :data:`_running` when the coroutine ends, and
    only when an exception escapes adds *report* (which passes it to the exception handler).
    """
    try:
        return await coro
    except asyncio.CancelledError:
        raise  # a cancelled slot task is not an error
    except BaseException:
        # SystemExit and KeyboardInterrupt too: report() retrieves them, so asyncio never logs
        # "Task exception was never retrieved" for a slot that ended the app.
        task = asyncio.current_task(loop)
        if task is not None:
            task.add_done_callback(report)
        raise
    finally:
        _running.discard(asyncio.current_task(loop))


@once
def _forwarder_class() -> Any:
    """``_Forwarder``, defined on first use: qtinter picks the Qt binding only then."""

    class _Forwarder(QtCore.QObject):
        """Runs, in the thread it lives in, the callables posted to it from other threads."""

        posted = make_signal(object)

        def __init__(self) -> None:
            super().__init__()
            self.posted.connect(self._run, enum_member(QtCore.Qt, "ConnectionType", "QueuedConnection"))

        def _run(self, call: Callable[[], object]) -> None:
            call()

    return _Forwarder


_thread_forwarder = threading.local()


def _forwarder() -> Any:
    """The current thread's forwarder (created on first use, lives in this thread)."""
    forwarder = getattr(_thread_forwarder, "forwarder", None)
    if forwarder is None:
        forwarder = _thread_forwarder.forwarder = _forwarder_class()()
    return forwarder


def _launcher(
    fn: Callable[..., Coroutine[Any, Any, T]],
    receiver: Callable[[], object] | None,
    task_runner: Callable[[Coroutine[Any, Any, T]], asyncio.Task[T]] | None,
    name: str,
) -> Callable[[tuple[Any, ...], dict[str, Any]], asyncio.Task[T]]:
    """What a slot wrapper does when called: one Python frame on the common path.

    *receiver* (a weak reference, for bound methods) gives the first argument of *fn*, or None when
    the object is gone. The common path (a qtinter loop runs in this thread, no task factory, no
    *task_runner*, Python 3.12+) creates the eager task directly, as ``run_task`` would:
    ``Task(eager_start=True)`` suspends and restores a running task itself.

    Called in another thread where no loop runs (PySide calls a plain-function slot in the
    sender's thread), it forwards the call to the thread the wrapper was made in, as Qt delivers a
    signal to a receiver object in the receiver's thread, and returns None (no task exists yet).
    """
    home = threading.get_ident()
    forwarder = _forwarder()

    def report(task: asyncio.Task[T]) -> None:
        _running.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        # KeyboardInterrupt and SystemExit already propagated out of the step that raised them.
        if isinstance(exc, Exception):
            task.get_loop().call_exception_handler(
                {"message": f"Unhandled exception in asyncslot {name}", "exception": exc, "task": task}
            )

    def launch(args: tuple[Any, ...], kwargs: dict[str, Any]) -> asyncio.Task[T]:
        loop = _get_running_loop()
        if loop is None and get_ident() != home:
            from ._signals import copy_arguments  # (_signals imports this module)

            forwarder.posted.emit(functools.partial(launch, copy_arguments(args), kwargs))
            return None  # type: ignore[return-value]
        target: Callable[..., Coroutine[Any, Any, Any]] = fn
        if receiver is not None:
            obj = receiver()
            if obj is None:
                # The receiver is gone: do nothing, as a Qt connection would; return a cancelled task.
                target, args, kwargs = _receiver_gone, (), {}
            else:
                args = (obj, *args)
        if (
            task_runner is None
            and _EAGER_START
            and isinstance(loop, QiBaseEventLoop)
            and loop._task_factory is None  # type: ignore[attr-defined]
        ):
            coro = target(*args, **kwargs)  # a TypeError for bad arguments surfaces here, no task yet
            guarded: Any = _guarded(coro, loop, report)
            guarded.__qualname__ = getattr(coro, "__qualname__", guarded.__qualname__)
            try:
                task: asyncio.Task[T] = _Task(guarded, loop=loop, eager_start=True)
            except BaseException:
                guarded.close()
                coro.close()
                raise
            if not task.done():
                _running.add(task)  # _guarded removes it
            return task
        runner = task_runner or _running_task_runner(name)
        coro = target(*args, **kwargs)
        try:
            task = runner(coro)
        except BaseException:
            coro.close()
            raise
        _running.add(task)
        task.add_done_callback(report)
        return task

    return launch


def _function_slot(
    fn: Callable[..., Coroutine[Any, Any, T]],
    task_runner: Callable[[Coroutine[Any, Any, T]], asyncio.Task[T]] | None,
) -> Callable[..., asyncio.Task[T]]:
    return _dressed(_make_slot(_launcher(fn, None, task_runner, _describe(fn)), fn), fn)


def _method_slot(
    method: Any, task_runner: Callable[[Coroutine[Any, Any, T]], asyncio.Task[T]] | None
) -> Callable[..., asyncio.Task[T]]:
    fn = _checked(method.__func__)
    try:
        receiver: Callable[[], object] = weakref.ref(method.__self__)
    except TypeError:  # no __weakref__ (a __slots__ class): it can only be held strongly
        receiver = functools.partial(lambda obj: obj, method.__self__)
    launch = _launcher(fn, receiver, task_runner, _describe(method))
    # Dressed as fn, not as the method: its __wrapped__ would keep the receiver alive.
    return _dressed(_make_slot(launch, method), fn)


def _dressed(slot: Callable[..., asyncio.Task[T]], fn: object) -> Callable[..., asyncio.Task[T]]:
    # __name__, __doc__, ... and __dict__, which holds what Slot()/pyqtSlot() recorded on fn.
    functools.update_wrapper(slot, fn)  # type: ignore[arg-type]
    return slot


def asyncslot(
    fn: Callable[..., Coroutine[Any, Any, T]],
    *,
    task_runner: Callable[[Coroutine[Any, Any, T]], asyncio.Task[T]] | None = None,
) -> Callable[..., asyncio.Task[T]]:
    """Wrap the coroutine function *fn* so that it can be connected to a Qt signal.

    Calling the wrapper calls *fn* with the same arguments and runs the coroutine with the running
    qtinter loop's :meth:`~QiBaseEventLoop.run_task`: the first step runs at once, the rest is
    scheduled, and the task is returned. Pass *task_runner* (for example :func:`asyncio.ensure_future`)
    to start the task differently. The wrapper takes the positional parameters *fn* takes (pass them
    positionally), so a signal with more arguments gives it only those, as Qt does for any slot that
    takes fewer arguments than its signal.

    *fn* may be a function, a bound method, a classmethod or staticmethod, a
    :func:`functools.partial`, or be decorated with ``Slot``/``pyqtSlot``, before or after
    ``asyncslot``. A bound method is held weakly, like Qt's own connections to methods: the wrapper
    does not keep its object alive, and once the object is gone calling it does nothing (it returns a
    task that is already cancelled).

    An exception that escapes the coroutine is passed to the loop's exception handler, naming the
    slot: never lost, and never raised into Qt (PyQt would abort the application). Cancellation is not
    reported.

    :raises TypeError: *fn* is not a coroutine function; (when called) the arguments do not fit *fn*.
    :raises RuntimeError: (when called) no qtinter loop is running in this thread.
    """
    target: object = fn  # may also be a staticmethod or classmethod object (decorator order)
    if isinstance(target, staticmethod):
        return cast("Callable[..., asyncio.Task[T]]", staticmethod(asyncslot(target.__func__)))
    if isinstance(target, classmethod):
        return cast("Callable[..., asyncio.Task[T]]", classmethod(asyncslot(target.__func__)))
    if inspect.ismethod(target):
        return _method_slot(target, task_runner)
    return _function_slot(_checked(fn), task_runner)
