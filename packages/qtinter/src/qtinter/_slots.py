"""``asyncslot``: use a coroutine function (any callable that returns a coroutine) as a Qt slot.

Calling the wrapper calls the function and hands the coroutine to the task runner, by default
:func:`qtinter.run_task`, which runs its first step at once (so a ``clicked`` handler can disable its
button before anything else happens) and schedules the rest on the running loop.

The wrapper's positional parameters mirror the function's (same names, same number, same ones
required; :data:`MAX_SIGNAL_ARGS` optional ones if it takes ``*args``), instead of a ``*args``
catch-all. That shape matters: PySide picks the overload of a signal with default arguments
(``clicked(bool checked = false)`` is two overloads) from the slot's number of parameters, giving a
``*args`` slot the one without arguments, and passes no more arguments than the slot takes; PyQt
retries a call with fewer arguments when the slot takes fewer. So the wrapper receives exactly what
a plain function with the coroutine function's signature would, and a call that does not fit fails
with the function's own parameter names.

For a bound method ``obj.method`` the wrapper is itself a bound method, of a small holder object,
and Qt's bindings hold the ``self`` of a connected bound method weakly. The holder references
``obj`` strongly only while the wrapper is referenced from outside; after that it waits (parked in
:data:`_parked`) until ``obj`` dies, and dies with it, which drops Qt's connections to the wrapper.
If ``obj`` is a ``QObject`` whose C++ object is deleted first, the holder stops calling it and
leaves the park at once, as a plain Qt connection to ``obj.method`` would stop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import keyword
import threading
import types
import weakref
from threading import get_ident
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._bindings import QtCore, binding
from ._compat import get_running_loop as _get_running_loop
from ._qt import enum_member, make_signal, once
from ._tasks import eager_task, run_task

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

__all__ = ["MAX_SIGNAL_ARGS", "asyncslot"]

T = TypeVar("T")

#: How many signal arguments a slot wrapper can receive (Qt signals rarely have more than 4).
MAX_SIGNAL_ARGS = 10

_CoroutineType = types.CoroutineType


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


# --------------------------------------------------------------------------------------------------
# The wrapper's shape


#: Prefix of the generated wrapper's own names; a function whose parameter names use it gets
#: generic parameter names instead of its own.
_OWN = "_qi_"


@functools.cache
def _slot_maker(names: tuple[str, ...], required: int, method: bool) -> Callable[..., Callable[..., Any]]:
    """Make slot functions with positional-only parameters *names*, the first *required* without default.

    Generated source, as :func:`collections.namedtuple` does, because the parameters must be real
    ones (see the module docstring) and their number varies. The slot calls ``launch(holder, args,
    kwargs)``: a *method* slot takes its holder (see :class:`_Holder`) first, a function slot passes
    None. Trailing arguments the caller did not pass are trimmed only when the last one is missing
    (one comparison on the common path).
    """
    params = [*names[:required], *(f"{name}={_OWN}MISSING" for name in names[required:])]
    if method:
        params.insert(0, f"{_OWN}self")
    args = f"({''.join(n + ', ' for n in names)})"
    if len(names) > required:
        body = (
            f"        {_OWN}args = {args}\n"
            f"        if {names[-1]} is {_OWN}MISSING:\n"
            f"            {_OWN}args = {_OWN}passed({_OWN}args)\n"
        )
        args = f"{_OWN}args"
    else:
        body = ""
    holder = f"{_OWN}self" if method else "None"
    source = (
        f"def make({_OWN}launch, {_OWN}passed, {_OWN}MISSING):\n"
        f"    def slot({''.join(p + ', ' for p in params)}{'/, ' if params else ''}**{_OWN}kwargs):\n"
        f"{body}"
        f"        return {_OWN}launch({holder}, {args}, {_OWN}kwargs)\n"
        "    return slot\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    return cast("Callable[..., Callable[..., Any]]", namespace["make"])


def _parameters(fn: Callable[..., Any], name: str) -> tuple[tuple[str, ...], int]:
    """The names of the wrapper's positional parameters for *fn*, and how many are required.

    *fn*'s own positional parameters (``*args`` adds optional ones up to :data:`MAX_SIGNAL_ARGS`);
    generic names if its signature is opaque or its names cannot be used.

    :raises TypeError: *fn* has a keyword-only parameter without a default (no signal can pass it).
    """
    generic = tuple(f"{_OWN}a{i}" for i in range(MAX_SIGNAL_ARGS))
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return generic, 0
    names: list[str] = []
    required = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is inspect.Parameter.empty:
            raise TypeError(
                f"asyncslot({name}): its keyword-only parameter {parameter.name!r} has no default, and a "
                "signal passes arguments by position only; give it a default or make it positional"
            )
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            names.extend(generic[len(names) :])
        elif parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            names.append(parameter.name)
            if parameter.default is inspect.Parameter.empty:
                required = len(names)
    if not all(n.isidentifier() and not keyword.iskeyword(n) and not n.startswith(_OWN) for n in names):
        names = list(generic[: len(names)])
    return tuple(names), required


def _describe(fn: object) -> str:
    if isinstance(fn, functools.partial):
        return f"functools.partial({_describe(fn.func)})"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return str(name) if name is not None else type(fn).__qualname__


def _dressed(slot: Callable[..., Any], fn: object) -> Callable[..., Any]:
    # __name__, __doc__, ... and __dict__, which holds what Slot()/pyqtSlot() recorded on fn.
    functools.update_wrapper(slot, fn)  # type: ignore[arg-type]
    return slot


# --------------------------------------------------------------------------------------------------
# Starting the task


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
    fn: Callable[..., Any], task_runner: Callable[[Coroutine[Any, Any, T]], asyncio.Task[T]], name: str
) -> Callable[[_Holder | None, tuple[Any, ...], dict[str, Any]], asyncio.Task[T]]:
    """What a slot wrapper does when called, in one Python frame (the hot path of every emission).

    ``launch(holder, args, kwargs)`` runs ``fn(*args, **kwargs)`` with *task_runner*; for a method
    slot, *holder* gives the receiver, passed first (when it is gone, nothing is called and the task
    returned is a cancelled one, as a Qt connection to a dead receiver does nothing). With the
    default runner (:func:`run_task`) the eager task is made here, around :func:`_guarded` instead
    of with a done callback. Called in another thread where no loop runs (PySide calls a slot in the
    sender's thread), it forwards the call to the thread the wrapper was made in, as Qt delivers a
    signal to a receiver object in the receiver's thread, and returns None (no task exists yet).
    """
    home = threading.get_ident()
    forwarder = _forwarder()
    eager = task_runner is run_task

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

    def launch(holder: _Holder | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> asyncio.Task[T]:
        loop = _get_running_loop()
        if loop is None:
            if get_ident() != home:
                from ._signals import copy_arguments  # (_signals imports this module)

                forwarder.posted.emit(functools.partial(launch, holder, copy_arguments(args), kwargs))
                return None  # type: ignore[return-value]
            if eager:
                raise RuntimeError(
                    f"asyncslot {name}: no event loop is running in this thread. Run the Qt application "
                    "inside `with qtinter.using_asyncio_from_qt(): app.exec()`, or start asyncio with "
                    "`asyncio.run(main(), loop_factory=qtinter.new_event_loop)`"
                )
        target = fn
        if holder is not None:
            obj = holder.ref()
            if obj is None:
                target, args, kwargs = _receiver_gone, (), {}
            else:
                args = (obj, *args)
        coro = target(*args, **kwargs)  # a TypeError for bad arguments surfaces here, no task yet
        if type(coro) is not _CoroutineType and not asyncio.iscoroutine(coro):
            raise TypeError(
                f"asyncslot {name}: calling it returned {coro!r}, not a coroutine; asyncslot() runs "
                "coroutine functions (async def) and callables that return a coroutine; connect a "
                "plain function to the signal directly"
            )
        if eager:
            guarded: Any = _guarded(coro, loop, report)  # type: ignore[arg-type]
            guarded.__qualname__ = getattr(coro, "__qualname__", guarded.__qualname__)
            try:
                task: asyncio.Task[T] = eager_task(loop, guarded)  # type: ignore[arg-type]
            except BaseException:
                guarded.close()
                coro.close()
                raise
            if not task.done():
                _running.add(task)  # _guarded removes it
            return task
        try:
            task = task_runner(coro)
        except BaseException:
            coro.close()
            raise
        _running.add(task)
        task.add_done_callback(report)
        return task

    return launch


# --------------------------------------------------------------------------------------------------
# Bound methods: the wrapper is a bound method of a holder that lives as long as the receiver


#: Holders whose wrapper is no longer referenced from outside, by id; each leaves when its receiver dies.
_parked: dict[int, _Holder] = {}


class _Holder:
    """The ``self`` of a method slot's wrapper (see the module docstring).

    ``ref()`` gives the receiver, or None once it is gone. ``obj`` keeps the receiver alive while the
    wrapper is referenced from outside; when the holder is about to die, :meth:`__del__` parks it
    instead (the finalizer runs once) and lets go of ``obj``.
    """

    def __init__(self, obj: object, name: str) -> None:
        super().__init__()  # QObject.__init__ for the PyQt variant (see _method_slot)
        self.obj: object = None
        self.function: Callable[..., Any] | None = None
        key = id(self)
        try:
            self.ref: Callable[[], object] = weakref.ref(obj, lambda _ref: _parked.pop(key, None))
        except TypeError:
            raise TypeError(
                f"asyncslot({name}): a {type(obj).__qualname__} object cannot be weakly referenced, so "
                "the slot could not let it go when it is no longer used; give its class a __weakref__ "
                "slot (add '__weakref__' to __slots__), or wrap a function that holds it deliberately: "
                "asyncslot(lambda *args: receiver.method(*args))"
            ) from None
        self.obj = obj
        if isinstance(obj, QtCore.QObject):
            # Deleting the C++ object ends Qt connections to its methods even while Python holds it.
            me = weakref.ref(self)
            obj.destroyed.connect(lambda *_: _receiver_deleted(me))

    def __del__(self) -> None:
        if self.obj is not None and self.ref() is not None:
            _parked[id(self)] = self
        self.obj = None


def _receiver_deleted(holder_ref: weakref.ref[_Holder]) -> None:
    holder = holder_ref()
    if holder is not None:
        holder.ref = lambda: None
        holder.obj = None
        _parked.pop(id(holder), None)


def _decorated_for_pyqt(slot: Callable[..., Any]) -> bool:
    """PyQt connects a ``pyqtSlot``-decorated method only as a slot of its ``QObject``'s class."""
    return hasattr(slot, "__pyqtSignature__") and binding().startswith("PyQt")


def _method_slot(
    method: Any, task_runner: Callable[[Coroutine[Any, Any, T]], asyncio.Task[T]]
) -> Callable[..., asyncio.Task[T]]:
    name = _describe(method)
    launch = _launcher(method.__func__, task_runner, name)
    names, required = _parameters(method, name)
    # Dressed as the function, not as the method: its __wrapped__ would keep the receiver alive.
    slot = _dressed(_slot_maker(names, required, True)(launch, passed_arguments, MISSING), method.__func__)
    if _decorated_for_pyqt(slot):
        holder_class = type("AsyncSlot", (_Holder, QtCore.QObject), {"slot": slot})
        return cast("Callable[..., asyncio.Task[T]]", holder_class(method.__self__, name).slot)
    holder = _Holder(method.__self__, name)
    # PyQt5 keeps a connected bound method's function without a reference of its own (a method's
    # function normally lives in its class): the holder keeps it, or PyQt5 calls freed memory.
    holder.function = slot
    return cast("Callable[..., asyncio.Task[T]]", types.MethodType(slot, holder))


# --------------------------------------------------------------------------------------------------
# asyncslot


def asyncslot(
    fn: Callable[..., Coroutine[Any, Any, T]],
    *,
    task_runner: Callable[[Coroutine[Any, Any, T]], asyncio.Task[T]] = run_task,
) -> Callable[..., asyncio.Task[T]]:
    """Wrap *fn* (a coroutine function, or any callable that returns a coroutine) as a Qt slot.

    Calling the wrapper calls *fn* with the same arguments and passes the coroutine to
    *task_runner*, which returns the task the wrapper returns. The default, :func:`run_task`, runs
    the first step at once and schedules the rest; :func:`asyncio.ensure_future`, for one, only
    schedules. The wrapper takes the positional parameters *fn* takes (pass them positionally), so a
    signal with more arguments gives it only those, as Qt does for any slot that takes fewer
    arguments than its signal.

    *fn* may be an ``async def`` function, a bound method, a classmethod or staticmethod, a
    :func:`functools.partial`, a lambda returning a coroutine, or be decorated with
    ``Slot``/``pyqtSlot``, before or after ``asyncslot``. For a bound method ``obj.method``, the
    wrapper is a bound method too: referencing it keeps ``obj`` alive; connected to a signal and
    referenced nowhere else, it lives as long as ``obj`` and no longer, so the connection goes when
    ``obj`` does (or when its C++ object is deleted, for a ``QObject``). Called after that, it does
    nothing and returns a cancelled task.

    An exception that escapes the coroutine is passed to the loop's exception handler, naming the
    slot: never lost, and never raised into Qt (PyQt would abort the application). Cancellation is not
    reported.

    :raises TypeError: *fn* or *task_runner* is not callable, *fn* has a keyword-only parameter
        without a default, or *fn* is a bound method whose object cannot be weakly referenced;
        (when called) the arguments do not fit *fn*, or *fn* did not return a coroutine.
    :raises RuntimeError: (when called) no event loop is running in this thread.
    """
    if not callable(task_runner):
        raise TypeError(
            f"asyncslot(task_runner=...) needs a callable that takes a coroutine and returns a task "
            f"(such as qtinter.run_task, the default, or asyncio.ensure_future), got {task_runner!r}"
        )
    target: object = fn  # may also be a staticmethod or classmethod object (decorator order)
    if isinstance(target, (staticmethod, classmethod)):
        wrapped = asyncslot(target.__func__, task_runner=task_runner)
        return cast("Callable[..., asyncio.Task[T]]", type(target)(wrapped))
    if not callable(target):
        raise TypeError(
            f"asyncslot() needs a coroutine function (defined with `async def`) or a callable that "
            f"returns a coroutine, got {target!r}"
        )
    if inspect.ismethod(fn):
        return _method_slot(fn, task_runner)
    name = _describe(fn)
    names, required = _parameters(fn, name)
    launch = _launcher(fn, task_runner, name)
    return _dressed(_slot_maker(names, required, False)(launch, passed_arguments, MISSING), fn)
