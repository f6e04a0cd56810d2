"""Awaiting Qt signals: ``asyncsignal``, ``asyncsignalstream`` and ``multisignal``.

Every awaiter connects its own small callable (a *relay*) to the signal and keeps only a weak reference
to it. Qt bindings drop their reference to a relay when the connection goes away: when we disconnect
it, or when the sender is destroyed. A relay released while still in use therefore means that the
sender died, which turns a wait that would hang forever into a clear :class:`SenderDestroyedError`.
(No binding lets one get from a bound signal to its sender, so connecting to the sender's
``destroyed`` signal is not an option.)

A bound signal is never touched again once its sender may be gone (PyQt crashes on that): closing a
connection first asks Qt, through the ``QMetaObject.Connection``, whether it still exists.
Emissions and destructions reported on other threads are handed to the waiting loop's thread.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from ._bindings import QtCore
from ._slots import MISSING, passed_arguments

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from types import TracebackType

__all__ = [
    "SenderDestroyedError",
    "SignalLike",
    "SignalStream",
    "asyncsignal",
    "asyncsignalstream",
    "multisignal",
]

K = TypeVar("K")

Overflow = Literal["drop-oldest", "error"]


class SignalLike(Protocol):
    """A bound Qt signal (``button.clicked``) or a :class:`multisignal`."""

    def connect(self, slot: Any, /) -> object: ...

    def disconnect(self, slot: Any, /) -> object: ...


class SenderDestroyedError(RuntimeError):
    """The object that owns a signal was destroyed while something was waiting for the signal."""


# --------------------------------------------------------------------------------------------------
# Copying arguments

_BINDING_PACKAGES = frozenset({"PyQt5", "PyQt6", "PySide2", "PySide6"})

#: Qt value types whose signal arguments are copied (PyQt hands slots wrappers of the emitter's own
#: temporaries, which are gone once the emission returns). Everything else is passed on as received:
#: QObjects (identity matters), enums, and Python objects, which the binding already converted.
COPIED_TYPES = frozenset(
    {
        "QBitArray", "QBrush", "QByteArray", "QColor", "QCursor", "QDate", "QDateTime", "QFont",
        "QIcon", "QImage", "QItemSelection", "QKeySequence", "QLine", "QLineF", "QLocale",
        "QMargins", "QMarginsF", "QModelIndex", "QPalette", "QPen", "QPersistentModelIndex",
        "QPixmap", "QPoint", "QPointF", "QPolygon", "QPolygonF", "QRect", "QRectF", "QRegion",
        "QSize", "QSizeF", "QTextCursor", "QTime", "QTransform", "QUrl", "QUuid", "QVariant",
    }
)  # fmt: skip


def _copy_value(value: object) -> object:
    cls = type(value)
    if cls.__module__.partition(".")[0] not in _BINDING_PACKAGES:
        if cls is list:
            return [_copy_value(item) for item in value]  # type: ignore[attr-defined]
        if cls is tuple:
            return tuple(_copy_value(item) for item in value)  # type: ignore[attr-defined]
        return value
    for base in cls.__mro__:
        if base.__name__ in COPIED_TYPES and base.__module__.partition(".")[0] in _BINDING_PACKAGES:
            try:
                return base(value)
            except TypeError:  # pragma: no cover - every listed type has a copy constructor
                return value
    return value


def copy_arguments(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """*args* with Qt value types copied (see :data:`COPIED_TYPES`)."""
    return tuple(_copy_value(arg) for arg in args)


def _unpack(args: tuple[Any, ...]) -> Any:
    """No argument: None; one: the value; several: the tuple."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return args


# --------------------------------------------------------------------------------------------------
# One connection that notices the sender's destruction


def _make_relay(on_emit: Callable[[tuple[Any, ...]], object]) -> Callable[..., None]:
    """The function connected to a Qt signal; only the binding may reference it (see the docstring).

    Its parameters are spelled out, not ``*args``, for the reason given in :mod:`qtinter._slots`.
    """
    _ = MISSING

    def relay(
        a0: Any = _,
        a1: Any = _,
        a2: Any = _,
        a3: Any = _,
        a4: Any = _,
        a5: Any = _,
        a6: Any = _,
        a7: Any = _,
        a8: Any = _,
        a9: Any = _,
        /,
    ) -> None:
        on_emit(copy_arguments(passed_arguments((a0, a1, a2, a3, a4, a5, a6, a7, a8, a9))))

    return relay  # fmt: skip


class _Link:
    """A connection to a signal; ``close()`` disconnects, ``on_destroyed`` reports a dead sender."""

    def close(self) -> None:
        raise NotImplementedError  # pragma: no cover


class _SignalLink(_Link):
    __slots__ = ("_closed", "_connection", "_on_destroyed", "_ref", "_signal")

    def __init__(
        self,
        signal: SignalLike,
        on_emit: Callable[[tuple[Any, ...]], object],
        on_destroyed: Callable[[], object],
    ) -> None:
        relay = _make_relay(on_emit)
        self._closed = False
        self._signal = signal
        self._on_destroyed = on_destroyed
        self._ref = weakref.ref(relay, self._released)
        try:
            connection = signal.connect(relay)
        except (AttributeError, TypeError, RuntimeError) as exc:
            self._closed = True
            raise TypeError(f"cannot connect to {signal!r}: {exc}") from exc
        self._connection = connection if isinstance(connection, QtCore.QMetaObject.Connection) else None

    def _released(self, _ref: object) -> None:
        # The binding dropped the relay without us disconnecting it: the sender is gone.
        if not self._closed:
            self._closed = True
            self._on_destroyed()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # A bound signal must not be touched once its sender is gone (PyQt crashes), so first ask Qt
        # itself: disconnecting the connection fails if Qt already removed it with the sender.
        if self._connection is not None and not QtCore.QObject.disconnect(self._connection):
            return
        relay = self._ref()
        if relay is not None:
            try:
                # Also makes PyQt free its proxy for the relay (it raises here, having done so).
                self._signal.disconnect(relay)
            except (TypeError, RuntimeError):
                pass


def _is_signal(signal: object) -> bool:
    return isinstance(signal, multisignal) or (
        callable(getattr(signal, "connect", None)) and callable(getattr(signal, "disconnect", None))
    )


def _check_signal(signal: object, who: str) -> None:
    if not _is_signal(signal):
        raise TypeError(
            f"{who}() needs a bound Qt signal (such as button.clicked) or a qtinter.multisignal, "
            f"got {signal!r}"
        )


def _link(
    signal: SignalLike, on_emit: Callable[[tuple[Any, ...]], object], on_destroyed: Callable[[], object]
) -> _Link:
    if isinstance(signal, multisignal):
        return signal._link(on_emit, on_destroyed)
    return _SignalLink(signal, on_emit, on_destroyed)


def _describe(signal: object) -> str:
    # Only while the sender is alive: PyQt crashes on repr() of a signal whose sender is gone.
    return repr(signal)


def _destroyed_error(description: str) -> SenderDestroyedError:
    return SenderDestroyedError(f"the sender of {description} was destroyed while waiting for the signal")


# --------------------------------------------------------------------------------------------------
# asyncsignal


class _SignalWait:
    """One :func:`asyncsignal` call: connected when made, settled by the first emission (or the
    sender's destruction), awaited through :meth:`wait`.

    The relay reaches it through a weak reference, so a wait that is never awaited (its coroutine
    dropped) disconnects when it is collected. The relay may run in another thread (PySide calls it
    in the sender's): the outcome is then handed to the awaiting loop's thread.
    """

    __slots__ = ("__weakref__", "_future", "_link", "_lock", "_outcome", "_thread")

    def __init__(self, signal: SignalLike) -> None:
        description = _describe(signal)  # now: the sender may be gone by the time anyone awaits
        self._lock = threading.Lock()
        self._outcome: tuple[bool, Any] | None = None  # (True, value) or (False, exception)
        self._future: asyncio.Future[Any] | None = None
        self._thread = threading.get_ident()  # where the result is delivered (the awaiter's, later)
        self._link: _Link | None = None
        me = weakref.ref(self)
        link = _link(
            signal,
            lambda args: _settle(me, (True, _unpack(args))),
            lambda: _settle(me, (False, _destroyed_error(description))),
        )
        self._link = link
        if self.settled():  # while connecting: a multisignal whose senders are all gone
            link.close()

    def settled(self) -> bool:
        return self._outcome is not None

    def settle(self, outcome: tuple[bool, Any]) -> None:
        with self._lock:
            if self._outcome is not None:
                return  # only the first emission counts
            self._outcome = outcome
            future = self._future
        if threading.get_ident() == self._thread:
            if self._link is not None:
                self._link.close()
            self._deliver()
        elif future is not None:
            try:
                future.get_loop().call_soon_threadsafe(self._deliver)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass
        # else: not awaited yet; wait() finds the outcome.

    def _deliver(self) -> None:
        future, outcome = self._future, self._outcome
        if future is not None and outcome is not None and not future.done():
            if outcome[0]:
                future.set_result(outcome[1])
            else:
                future.set_exception(outcome[1])

    async def wait(self) -> Any:
        try:
            with self._lock:
                outcome = self._outcome
                if outcome is None:
                    self._future = asyncio.get_running_loop().create_future()
                    self._thread = threading.get_ident()
            if outcome is None:
                assert self._future is not None
                return await self._future
            if outcome[0]:
                return outcome[1]
            raise outcome[1]
        finally:
            if self._link is not None:
                self._link.close()

    def __del__(self) -> None:
        link = getattr(self, "_link", None)
        if link is not None and not sys.is_finalizing():
            link.close()


def _settle(wait_ref: weakref.ref[_SignalWait], outcome: tuple[bool, Any]) -> None:
    wait = wait_ref()
    if wait is not None:
        wait.settle(outcome)


def asyncsignal(signal: SignalLike) -> Coroutine[Any, Any, Any]:
    """Connect to *signal* now and return a coroutine that waits for its next emission.

    The coroutine returns the emission's arguments: None for a signal without arguments, the
    argument itself for one, and a tuple for several. The connection is made by this call, so an
    emission that happens before the coroutine is awaited is not missed, and a sender destroyed
    meanwhile is noticed. Qt value types (see :data:`COPIED_TYPES`) are copied, so they stay valid
    after the emission. After the first emission, or when the wait is cancelled, it disconnects; a
    coroutine that is never awaited disconnects when it is garbage collected.

    :raises TypeError: *signal* is not a bound signal (raised by this call).
    :raises SenderDestroyedError: (awaited) the object owning the signal was destroyed before it
        emitted.
    """
    _check_signal(signal, "asyncsignal")
    return _SignalWait(signal).wait()


# --------------------------------------------------------------------------------------------------
# asyncsignalstream


class _StreamState:
    __slots__ = (
        "closed", "dropped", "ended", "error", "items", "loop", "maxsize", "overflow", "thread", "unlink",
        "waiter",
    )  # fmt: skip

    def __init__(self, maxsize: int, overflow: Overflow) -> None:
        #: The consumer's loop and thread, once known (emissions from other threads hop there).
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.get_ident()
        self.items: collections.deque[Any] = collections.deque()
        self.maxsize = maxsize
        self.overflow: Overflow = overflow
        self.dropped = 0
        self.ended = False  # no more emissions will arrive
        self.closed = False  # the consumer closed the stream
        self.error: BaseException | None = None  # raised once the buffer is drained
        self.waiter: asyncio.Future[None] | None = None
        self.unlink: Callable[[], object] = lambda: None

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def elsewhere(self, call: Callable[[], None]) -> bool:
        """Hand *call* to the consumer's loop if this is another thread; False if it runs here."""
        if self.loop is None or threading.get_ident() == self.thread:
            return False
        try:
            self.loop.call_soon_threadsafe(call)
        except RuntimeError:  # the loop is closed: nobody consumes any more
            pass
        return True

    def push(self, args: tuple[Any, ...]) -> None:
        if self.elsewhere(functools.partial(self.push, args)):
            return
        if self.ended:
            return
        if self.maxsize and len(self.items) >= self.maxsize:
            if self.overflow == "drop-oldest":
                self.items.popleft()
                self.dropped += 1
            else:
                self.error = OverflowError(
                    f"more than {self.maxsize} emissions arrived before the consumer took them; "
                    "the stream was disconnected"
                )
                self.ended = True
                self.unlink()
                self.wake()
                return
        self.items.append(_unpack(args))
        self.wake()

    def sender_destroyed(self) -> None:
        if self.elsewhere(self.sender_destroyed):
            return
        self.ended = True
        self.wake()


class SignalStream:
    """An async iterator over the emissions of a signal; see :func:`asyncsignalstream`."""

    def __init__(self, signal: SignalLike, *, maxsize: int = 0, overflow: Overflow = "drop-oldest") -> None:
        self._link: _Link | None = None
        _check_signal(signal, "asyncsignalstream")
        if not isinstance(maxsize, int) or isinstance(maxsize, bool) or maxsize < 0:
            raise ValueError(f"maxsize must be an int >= 0 (0: unbounded), got {maxsize!r}")
        if overflow not in ("drop-oldest", "error"):
            raise ValueError(f"overflow must be 'drop-oldest' or 'error', got {overflow!r}")
        state = self._state = _StreamState(maxsize, overflow)
        try:
            state.loop = asyncio.get_running_loop()
        except RuntimeError:
            pass  # created before the loop runs: the first __anext__ tells
        link = self._link = _link(signal, state.push, state.sender_destroyed)
        state.unlink = link.close

    @property
    def dropped(self) -> int:
        """How many emissions were discarded because the buffer was full (``overflow="drop-oldest"``)."""
        return self._state.dropped

    def __aiter__(self) -> SignalStream:
        return self

    async def __anext__(self) -> Any:
        state = self._state
        while True:
            if state.closed:
                raise StopAsyncIteration
            if state.items:
                return state.items.popleft()
            if state.error is not None:
                raise state.error
            if state.ended:
                raise StopAsyncIteration
            if state.waiter is not None:
                raise RuntimeError("another task is already waiting for the next emission of this stream")
            if state.loop is None:
                state.loop, state.thread = asyncio.get_running_loop(), threading.get_ident()
            waiter = state.waiter = state.loop.create_future()
            try:
                await waiter
            finally:
                state.waiter = None

    def close(self) -> None:
        """Disconnect and discard buffered emissions; a waiting ``__anext__`` ends the iteration."""
        state = self._state
        state.closed = state.ended = True
        state.items.clear()
        if self._link is not None:
            self._link.close()
        state.wake()

    async def aclose(self) -> None:
        """Same as :meth:`close`, for ``contextlib.aclosing`` and symmetry with async generators."""
        self.close()

    async def __aenter__(self) -> SignalStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # `break` out of `async for` does not close an iterator: do not leave the connection behind.
        link = getattr(self, "_link", None)
        if link is not None and not sys.is_finalizing():
            link.close()


def asyncsignalstream(
    signal: SignalLike, *, maxsize: int = 0, overflow: Overflow = "drop-oldest"
) -> SignalStream:
    """Connect to *signal* now and iterate over its emissions with ``async for``.

    Each item follows :func:`asyncsignal`'s convention (None, the value, or a tuple). Emissions are
    buffered until the consumer takes them: without limit if *maxsize* is 0, else at most *maxsize*.
    On overflow, ``"drop-oldest"`` discards the oldest buffered emission (counted in
    :attr:`SignalStream.dropped`); ``"error"`` disconnects, delivers what is buffered and then raises
    :class:`OverflowError`. The iteration ends when the sender is destroyed or the stream is closed
    (:meth:`~SignalStream.aclose`, ``async with``, or garbage collection).
    """
    return SignalStream(signal, maxsize=maxsize, overflow=overflow)


# --------------------------------------------------------------------------------------------------
# multisignal


class _Subscription(_Link):
    """One subscriber of a multisignal; ``close()`` unsubscribes."""

    __slots__ = ("hub", "on_destroyed", "on_emit")

    def __init__(
        self,
        hub: multisignal[Any],
        on_emit: Callable[[tuple[Any, ...]], object],
        on_destroyed: Callable[[], object],
    ) -> None:
        self.hub: multisignal[Any] | None = hub
        self.on_emit = on_emit
        self.on_destroyed = on_destroyed

    def close(self) -> None:
        hub, self.hub = self.hub, None
        if hub is not None:
            hub._unsubscribe(self)


def _hub_emit(hub_ref: weakref.ref[multisignal[Any]], tag: object, args: tuple[Any, ...]) -> None:
    hub = hub_ref()
    if hub is not None:
        hub._dispatch((tag, _unpack(args)))


def _hub_sender_destroyed(hub_ref: weakref.ref[multisignal[Any]]) -> None:
    hub = hub_ref()
    if hub is not None:
        hub._sender_destroyed()


class multisignal(Generic[K]):
    """Several signals seen as one, each emission tagged with the value its signal maps to.

    ``multisignal({ok.clicked: "ok", edit.textChanged: "text"})`` emits ``(tag, value)``, where
    *value* follows :func:`asyncsignal`'s convention. Await it with :func:`asyncsignal` or iterate it
    with :func:`asyncsignalstream`, or :meth:`connect` a slot ``slot(tag, value)`` and
    :meth:`disconnect` it later. Waiting on it raises :class:`SenderDestroyedError` only once every
    sender is gone.

    It connects to every signal once, when it is created, and disconnects when it is garbage
    collected, so it may be kept and awaited again and again, even after some senders died.

    :raises TypeError: *signal_map* is not a mapping whose keys are bound signals (a mapping of tags
        to signals is refused with a hint to swap them).
    """

    def __init__(self, signal_map: Mapping[Any, K]) -> None:
        self._links: list[_Link] = []
        if not isinstance(signal_map, Mapping):
            raise TypeError(f"multisignal() needs a mapping of signals to tags, got {signal_map!r}")
        if signal_map and not any(map(_is_signal, signal_map)) and all(map(_is_signal, signal_map.values())):
            raise TypeError(
                "multisignal() takes {signal: tag, ...}, but the signals of this mapping are its values: "
                "swap its keys and values, e.g. multisignal({signal: tag for tag, signal in mapping.items()})"
            )
        for signal in signal_map:
            _check_signal(signal, "multisignal")
        entries = ", ".join(f"{_describe(signal)}: {tag!r}" for signal, tag in signal_map.items())
        self._description = f"multisignal({{{entries}}})"
        self._subscribers: list[_Subscription] = []
        self._slots: list[tuple[Callable[[K, Any], object], _Subscription]] = []
        self._alive = len(signal_map)
        hub_ref = weakref.ref(self)  # the bindings hold the relays: they must not keep this alive
        try:
            for signal, tag in signal_map.items():
                self._links.append(
                    _link(
                        signal,
                        functools.partial(_hub_emit, hub_ref, tag),
                        functools.partial(_hub_sender_destroyed, hub_ref),
                    )
                )
        except BaseException:
            self._close_links()
            raise

    # -- the hub -------------------------------------------------------------------------------------
    def _dispatch(self, tagged: tuple[Any, ...]) -> None:
        for subscription in tuple(self._subscribers):  # a subscriber may unsubscribe meanwhile
            if subscription.hub is not None:
                subscription.on_emit(tagged)

    def _sender_destroyed(self) -> None:
        self._alive -= 1
        if self._alive == 0:
            for subscription in tuple(self._subscribers):
                subscription.close()
                subscription.on_destroyed()

    def _link(
        self, on_emit: Callable[[tuple[Any, ...]], object], on_destroyed: Callable[[], object]
    ) -> _Subscription:
        subscription = _Subscription(self, on_emit, on_destroyed)
        if self._alive == 0 and self._links:
            subscription.hub = None
            on_destroyed()  # every sender is already gone
        else:
            self._subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: _Subscription) -> None:
        try:
            self._subscribers.remove(subscription)
        except ValueError:
            pass

    def _close_links(self) -> None:
        for link in self._links:
            link.close()
        self._links = []

    def __del__(self) -> None:
        if not sys.is_finalizing():
            self._close_links()

    # -- the signal-like API ----------------------------------------------------------------------------
    def connect(self, slot: Callable[[K, Any], object], /) -> None:
        """Call ``slot(tag, value)`` on every emission of any of the signals."""
        if not callable(slot):
            raise TypeError(f"multisignal.connect() needs a callable, got {slot!r}")
        subscription = self._link(lambda tagged: slot(*tagged), lambda: None)
        self._slots.append((slot, subscription))

    def disconnect(self, slot: Callable[[K, Any], object] | None = None, /) -> None:
        """Disconnect *slot* (every connection of it), or every slot if *slot* is omitted.

        :raises ValueError: *slot* is not connected.
        """
        kept: list[tuple[Callable[[K, Any], object], _Subscription]] = []
        found = False
        for connected, subscription in self._slots:
            if slot is None or connected == slot:
                subscription.close()
                found = True
            else:
                kept.append((connected, subscription))
        self._slots = kept
        if slot is not None and not found:
            raise ValueError(f"{slot!r} is not connected to this multisignal")

    def __repr__(self) -> str:
        return self._description
