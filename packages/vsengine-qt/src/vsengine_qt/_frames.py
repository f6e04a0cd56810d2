"""Frames of a node, requested ahead and handed to one thread in order.

One engine (:class:`FramePump`) serves two front ends: :class:`FrameStream`, a QObject with signals for
widget code, and :class:`FrameIterator`, an async iterator for coroutines (:func:`frames`).

How a frame travels: the pump asks VapourSynth for up to ``prefetch`` frames ahead
(``get_frame_async``). Each completion runs on a VapourSynth thread, where it only appends the frame
to an inbox (a deque); the first completion of a burst also schedules one drain on the pump's thread
(for a FrameStream a queued Qt signal when Qt's event loop runs there; for the iterator, and on
other loops, ``call_soon_threadsafe`` of the asyncio loop, whose task it resumes). The drain takes
everything in the inbox at once, puts frames in order, delivers the ones that are next (at once, or
when they are due in paced playback), and tops the window up again. So a Qt dispatch carries as
many frames as completed since the last one, instead of one signal per frame.

Seeking starts a new generation: frames of the old one that are still being rendered are dropped as
they arrive, and requests for the new position go out at once.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import operator
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, NamedTuple, Self, cast

import vapoursynth as vs

import qtinter
from vsengine._compat import keep_thread_state
from vsengine.policy import registered_policy
from vsengine_qt._pacing import Pacing, QtClock, frame_duration_of
from vsengine_qt._qt import QtCore, Signal

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from fractions import Fraction
    from types import TracebackType

    from vsengine_qt._pacing import Clock, Policy

__all__ = ["Delivered", "FrameIterator", "FramePump", "FrameStream", "default_prefetch", "frames"]


class Delivered(NamedTuple):
    """A frame handed to the consumer's thread."""

    #: The frame number.
    n: int
    #: The frame, or what the pump's ``transform`` made of it (e.g. a QImage); for a bundle of
    #: several nodes, a tuple with one such value per node.
    value: Any
    #: Seconds from the request to the moment the frame (and its transform) was ready.
    seconds: float


def default_prefetch() -> int:
    """Twice VapourSynth's thread count in the current environment (at least 4).

    Never touches VapourSynth without an environment: with no environment current (no vsengine
    policy, or none of its environments current here) it returns 4, and does not create
    VapourSynth's standalone core the way reading ``vs.core`` would (which registers VapourSynth's
    own policy and makes every later ``Policy.register()`` fail).
    """
    threads = 2
    policy = registered_policy()
    if policy is not None:
        environment = policy.peek_current_environment()
        if environment is not None:
            with policy.inline_captured(environment):
                threads = vs.core.num_threads
    elif vs.has_policy():  # another policy's environment (vspipe, an editor)
        try:
            threads = vs.core.num_threads
        except (RuntimeError, vs.Error):
            pass
    return max(4, 2 * threads)


def _frame_number(value: object, name: str) -> int:
    """``value`` as an int, or a TypeError that names the parameter (bools are refused too)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None


def _check_node(node: object) -> vs.VideoNode:
    if isinstance(node, vs.AudioNode):
        raise TypeError("frames are delivered for video nodes only: an audio node (vs.AudioNode) was given")
    if not isinstance(node, vs.VideoNode):
        raise TypeError(f"expected a vapoursynth.VideoNode, got {type(node).__name__}")
    return node


def _check_nodes(node: object) -> tuple[vs.VideoNode, ...]:
    """One node, or a non-empty sequence of them (a bundle delivered together per frame number)."""
    if isinstance(node, (list, tuple)):
        if not node:
            raise ValueError("a bundle needs at least one node, got an empty sequence")
        return tuple(_check_node(each) for each in node)
    return (_check_node(node),)


def _check_transforms(transform: object, count: int) -> tuple[Callable[[Any], Any] | None, ...]:
    """One transform for every node, or a sequence with one (or None) per node of a bundle."""
    if isinstance(transform, (list, tuple)):
        if len(transform) != count:
            raise ValueError(
                f"got {len(transform)} transforms for a bundle of {count} nodes: give one per node"
            )
        return tuple(transform)
    return (transform,) * count  # type: ignore[return-value]


def _qt_runs_here(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether Qt's event loop dispatches this thread's events whenever ``loop`` runs."""
    if not isinstance(loop, qtinter.QiBaseEventLoop) or QtCore.QCoreApplication.instance() is None:
        return False
    if loop.get_mode() is qtinter.QiLoopMode.NATIVE:
        return False  # a plain asyncio loop for now: no Qt loop runs
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class _Mailbox:
    """What VapourSynth's threads share with a pump: its inbox and how to wake its thread.

    Completions hold the mailbox, never the pump or a Qt object of its own, so the last reference to
    a pump (and to the QObject that may own it) is never dropped on a VapourSynth thread.
    """

    __slots__ = ("__weakref__", "generation", "inbox", "pending", "pump", "wake", "waker")

    def __init__(self, pump: FramePump, wake: Callable[[_Mailbox], None], waker: _Waker | None) -> None:
        self.inbox: collections.deque[tuple[int, int, Any, BaseException | None, float, float | None]] = (
            collections.deque()
        )
        self.pending = False  # a drain is scheduled and has not started yet
        self.generation = 0  # the pump's generation: completions of older ones are dropped at once
        self.pump = weakref.ref(pump)
        self.wake = wake
        # A bound signal does not keep its QObject alive, and a thread's waker may be dropped from its
        # thread-local storage while frames are in flight (PyQt clears it after every slot call on a
        # QThread that Python did not start): the mailbox keeps it.
        self.waker = waker


def _drain_mailbox(mailbox: _Mailbox) -> None:
    pump = mailbox.pump()
    if pump is None:
        mailbox.pending = False
        mailbox.inbox.clear()
    else:
        pump._drain()


class _Waker(QtCore.QObject):
    """One per thread that receives frames through Qt: ``wake`` is emitted from VapourSynth's threads and
    the queued connection drains the mailbox it carries on this thread, in one Qt dispatch."""

    wake = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        # Always queued, even when emitted on this thread: a drain never runs inside another one.
        self.wake.connect(_drain_mailbox, QtCore.Qt.ConnectionType.QueuedConnection)  # type: ignore[call-arg,unused-ignore]


#: This thread's waker. Thread-local storage dies with its thread: a later thread that gets the same
#: thread id gets a waker of its own (a cache keyed by the id handed it the dead thread's one, whose
#: queued signals were never dispatched again).
_local = threading.local()


def _waker_for_this_thread() -> _Waker:
    waker: _Waker | None = getattr(_local, "waker", None)
    if waker is None:
        waker = _local.waker = _Waker()
    return waker


def _wake_through_loop(loop: asyncio.AbstractEventLoop, mailbox: _Mailbox) -> None:
    try:
        loop.call_soon_threadsafe(_drain_mailbox, mailbox)
    except RuntimeError:
        pass  # the loop is closed: nobody is left to deliver to


#: ``tuple.__new__``: builds a named tuple without calling its Python-level ``__new__``.
_new_tuple = tuple.__new__


def _no_drop(n: int) -> None:
    pass


class FramePump:
    """Requests the frames ``[start, end)`` of a node (or a bundle of nodes) and hands them, in order, to
    ``deliver``.

    ``deliver(n, value, seconds)``, ``fail(n, error)``, ``done()`` and ``drop(n)`` run on the pump's
    thread (the thread that creates it), and so must every method. Frames reach that thread through
    ``loop`` (default: the running asyncio loop) or, where no asyncio loop runs, through Qt's event
    loop of that thread. ``transform`` runs on VapourSynth's threads as each frame completes.

    ``node`` may be a sequence of nodes: each frame number is then requested from every node and
    delivered once all of them are there, as a tuple of values in the order of the nodes (a clip and
    its alpha, several outputs kept in step), also for a sequence of one node. The range ends with
    the shortest node. ``transform`` may then be a sequence too: one transform (or None) per node.
    ``node`` may also be an audio node: its frames (3,072 samples each) are delivered like video
    frames, with :meth:`seek`.

    Two limits keep it busy and bounded: at most ``prefetch`` frame numbers are requested and not yet
    drained to the pump's thread, and at most ``backlog`` (default ``2 * prefetch``) are requested and
    not yet released by the consumer (with ``auto_release``, a frame is released once ``deliver``
    returns; otherwise by :meth:`release`; failed and dropped frames release themselves).
    Completions on VapourSynth's threads only append to an inbox, and the first completion of a
    burst wakes the pump's thread (a queued Qt signal where Qt runs, ``call_soon_threadsafe``
    otherwise); all bookkeeping, and the requests that refill the window, happen in the drain, in
    one batch per Qt dispatch. (Refilling from VapourSynth's threads measured slower: their extra
    Python work competes for the GIL.)

    :meth:`play` delivers at the clip's rate instead of as fast as possible (see :class:`FrameStream`).
    """

    def __init__(
        self,
        node: vs.VideoNode | Sequence[vs.VideoNode] | vs.AudioNode,
        deliver: Callable[[int, Any, float], None],
        fail: Callable[[int, BaseException], None],
        done: Callable[[], None],
        *,
        prefetch: int | None = None,
        backlog: int | None = None,
        transform: Callable[[Any], Any] | Sequence[Callable[[Any], Any] | None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        auto_release: bool = True,
        drop: Callable[[int], None] = _no_drop,
        clock: Clock | None = None,
    ) -> None:
        # An audio node (alone) is pumped like video (the same calls: num_frames, get_frame_async);
        # its frames hold 3,072 samples each.
        self._audio = isinstance(node, vs.AudioNode)
        self._nodes = cast("tuple[vs.VideoNode]", (node,)) if self._audio else _check_nodes(node)
        # A sequence of nodes, even of one, is a bundle: its values are delivered as tuples.
        self._bundle = isinstance(node, (list, tuple))
        self._num_frames = min(each.num_frames for each in self._nodes)
        prefetch = default_prefetch() if prefetch is None else _frame_number(prefetch, "prefetch")
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, got {prefetch}")
        backlog = 2 * prefetch if backlog is None else _frame_number(backlog, "backlog")
        if backlog < prefetch:
            raise ValueError(f"backlog ({backlog}) must be at least prefetch ({prefetch})")
        self._prefetch = prefetch
        self._backlog = backlog
        self._deliver = deliver
        self._fail = fail
        self._done = done
        self._drop = drop
        self._transforms = _check_transforms(transform, len(self._nodes))
        self._auto_release = auto_release
        self._clock = clock
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                if QtCore.QCoreApplication.instance() is None:
                    raise RuntimeError(
                        "frames are delivered through the running asyncio loop or Qt's event loop of "
                        "this thread, and neither is there: create the QApplication first (and, for "
                        "coroutines, run qtinter's loop: see vsengine_qt.setup()), or pass loop=..."
                    ) from None
        self._loop = loop
        self._thread = threading.get_ident()
        # How a completion wakes this thread. Where Qt's event loop runs (a qtinter loop's thread, or no
        # asyncio loop at all), a queued Qt signal: measured 2.5x less CPU and 3x less latency per
        # wake-up than call_soon_threadsafe. Elsewhere, call_soon_threadsafe.
        if loop is None or _qt_runs_here(loop):
            waker = _waker_for_this_thread()
            self._mailbox = _Mailbox(self, waker.wake.emit, waker)
        else:
            self._mailbox = _Mailbox(self, functools.partial(_wake_through_loop, loop), None)
        # Everything but the inbox belongs to the pump's thread.
        self._generation = 0
        self._next_request = 0
        self._end = 0
        self._in_flight = 0  # frame numbers requested, not drained
        self._unreleased = 0  # frame numbers requested, not released by the consumer
        self._next_deliver = 0
        self._ready: dict[int, tuple[int, int, Any, BaseException | None, float, float | None]] = {}
        self._parts: dict[int, list[Any]] = {}  # bundles: frame number -> the parts that arrived
        self._pacing: Pacing | None = None
        self._running = False
        self._closed = False
        self._paused = False

    @property
    def node(self) -> vs.VideoNode:
        """The node (the first one of a bundle)."""
        return self._nodes[0]

    @property
    def nodes(self) -> tuple[vs.VideoNode, ...]:
        """Every node of the bundle (one for a plain pump)."""
        return self._nodes

    @property
    def num_frames(self) -> int:
        """Frames that can be delivered: the length of the shortest node."""
        return self._num_frames

    @property
    def prefetch(self) -> int:
        return self._prefetch

    @property
    def backlog(self) -> int:
        return self._backlog

    @property
    def position(self) -> int:
        """The number of the next frame to be delivered."""
        return self._next_deliver

    @property
    def end(self) -> int:
        return self._end

    @property
    def running(self) -> bool:
        """True from :meth:`seek` or :meth:`play` until the last frame is delivered (or :meth:`stop`)."""
        return self._running

    @property
    def playing(self) -> bool:
        """True while a :meth:`play` is running (paced delivery)."""
        return self._running and self._pacing is not None

    @property
    def buffered(self) -> int:
        """Frames rendered and waiting on this thread to be delivered (in paced playback: not due yet)."""
        return len(self._ready)

    @property
    def unreleased(self) -> int:
        """Frames requested and not yet released (delivered but held by the consumer, or in flight)."""
        return self._unreleased

    def _check_thread(self, method: str) -> None:
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                f"{method}() was called from thread {threading.current_thread().name!r}, but this stream "
                "delivers its frames on the thread that created it: call it there (from another "
                "thread, hand it over with QtEventLoop.from_thread(...) or a queued signal)"
            )

    def seek(self, start: int, end: int | None = None) -> None:
        """Drop whatever is in flight and deliver ``[start, end)`` from now on (``end``: the clip's end),
        as fast as the frames come."""
        self._check_thread("seek")
        self._start(start, end, None)

    def play(
        self,
        start: int | None = None,
        end: int | None = None,
        *,
        fps: Fraction | float | None = None,
        speed: float = 1.0,
        policy: Policy = "every",
    ) -> None:
        """Like :meth:`seek`, but deliver each frame when it is due at the clip's rate.

        ``start`` defaults to the current position. ``fps`` overrides the clip's rate; a clip of
        variable frame rate (``fps`` 0), or any clip with ``fps=0``, is paced by each frame's
        ``_DurationNum/_DurationDen``.
        ``speed`` scales the rate. ``policy="every"`` shows every frame (a late one is shown at once
        and the next keep their spacing after it); ``policy="catch_up"`` shows every frame on the
        clip's timeline (after a late one, the next are shown at once until playback is on time
        again); ``policy="drop"`` keeps to the clip's timeline and
        drops (``drop(n)``) a frame whose whole display time has passed when it could be shown.
        """
        self._check_thread("play")
        if self._audio:
            raise TypeError("play() paces video frames: an audio node is delivered with seek()")
        if policy not in ("every", "drop", "catch_up"):
            raise ValueError(f"policy must be 'every', 'drop' or 'catch_up', got {policy!r}")
        if not (isinstance(speed, (int, float)) and speed > 0):
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        pacing = Pacing(
            self._clock if self._clock is not None else QtClock(),
            frame_duration_of(self._nodes[0], fps),
            policy,
            float(speed),
        )
        self._start(self._next_deliver if start is None else start, end, pacing)

    def _start(self, start: int, end: int | None, pacing: Pacing | None) -> None:
        if self._closed:
            raise RuntimeError("this frame pump is closed")
        start = _frame_number(start, "start")
        num_frames = self._num_frames
        end = num_frames if end is None else _frame_number(end, "end")
        if not 0 <= start <= num_frames:
            raise IndexError(f"start frame {start} is outside the clip (0..{num_frames - 1})")
        if not start <= end <= num_frames:
            raise IndexError(
                f"end frame {end} must lie between start ({start}) and the clip's length ({num_frames})"
            )
        self._new_generation()
        self._pacing = pacing
        self._next_request = start
        self._end = end
        self._in_flight = 0
        self._unreleased = 0
        self._next_deliver = start
        self._running = True
        self._request_more()
        if start == end:
            self._finish()

    def _new_generation(self) -> None:
        self._generation += 1
        self._mailbox.generation = self._generation
        self._ready.clear()
        self._parts.clear()
        if self._pacing is not None:
            self._pacing.stop_timer()

    def stop(self) -> None:
        """Stop: nothing more is requested or delivered; frames in flight are dropped on arrival."""
        self._check_thread("stop")
        self._new_generation()
        self._running = False

    def pause(self) -> None:
        """Stop requesting new frames (frames in flight are still delivered)."""
        self._check_thread("pause")
        self._paused = True

    def resume(self) -> None:
        self._check_thread("resume")
        self._paused = False
        self._request_more()

    def close(self) -> None:
        self.stop()
        self._closed = True

    def release(self, count: int = 1) -> None:
        """The consumer is done with ``count`` delivered frames: the backlog moves on.

        Only needed with ``auto_release=False``; releasing more frames than were delivered and not
        yet released is an error.
        """
        self._check_thread("release")
        count = _frame_number(count, "count")
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        held = self._unreleased - self._in_flight - len(self._ready)
        if count > held:
            raise ValueError(f"release({count}): only {held} delivered frame(s) are not released yet")
        self._unreleased -= count
        self._request_more()

    def _wake_on_loop(self) -> None:
        """Wake this pump's thread through its asyncio loop, also where Qt runs (before any request):
        for a consumer that is a task of that loop (the iterator), the drain then runs in the loop's
        iteration and the task it wakes resumes in the same one, instead of a Qt dispatch that must
        wake the loop again (measured: 3.5k fewer instructions per reused frame, PyQt6)."""
        assert self._loop is not None
        self._mailbox = _Mailbox(self, functools.partial(_wake_through_loop, self._loop), None)

    def _release_delivered(self) -> None:
        """``release(1)`` for a front end on the pump's thread that releases each frame it delivered
        exactly once (the iterator, per frame): without the checks of the public method. While the
        window is full (the drain topped it up), the release cannot make room for a request: only the
        backlog moves on, and the next drain requests."""
        self._unreleased -= 1
        if self._in_flight < self._prefetch:
            self._request_more()

    def _request_more(self) -> None:
        """Request what the two limits allow."""
        if not self._running or self._paused:
            return
        first = self._next_request
        room = min(self._prefetch - self._in_flight, self._backlog - self._unreleased, self._end - first)
        if room <= 0:
            return
        self._next_request = first + room
        self._in_flight += room
        self._unreleased += room
        generation = self._generation
        read_duration = self._pacing is not None and self._pacing.reads_props
        if self._bundle:
            for n in range(first, first + room):
                self._request_bundle(n, generation, read_duration)
            return
        # One node: the completion is defined right here, once per frame number (``n`` and the
        # request's time are its defaults), without a method call per request: this is the hot path
        # of every frame.
        transform = self._transforms[0]
        mailbox = self._mailbox  # not self: see _Mailbox
        request = self._nodes[0].get_frame_async
        perf_counter = time.perf_counter
        for n in range(first, first + room):

            def completed(
                frame: vs.VideoFrame | None,
                error: BaseException | None,
                n: int = n,
                requested: float = perf_counter(),
            ) -> None:
                # On a VapourSynth thread: keep its Python thread state (half the cost of a callback).
                keep_thread_state()
                if generation != mailbox.generation:
                    return  # seeked or stopped meanwhile: drop the frame here and now
                value: Any = frame
                duration = None
                if error is None:
                    if read_duration:
                        duration = _duration_of_frame(frame)
                    if transform is not None:
                        try:
                            value = transform(frame)
                        except BaseException as exc:
                            value, error = None, exc
                mailbox.inbox.append((generation, n, value, error, perf_counter() - requested, duration))
                if not mailbox.pending:
                    mailbox.pending = True
                    mailbox.wake(mailbox)

            request(n, completed)

    # -- VapourSynth's threads -------------------------------------------------------------------

    def _request_bundle(self, n: int, generation: int, read_duration: bool) -> None:
        requested = time.perf_counter()
        mailbox = self._mailbox

        for index, (node, transform) in enumerate(zip(self._nodes, self._transforms, strict=True)):

            def completed(
                frame: vs.VideoFrame | None,
                error: BaseException | None,
                index: int = index,
                transform: Callable[[Any], Any] | None = transform,
            ) -> None:
                keep_thread_state()
                if generation != mailbox.generation:
                    return
                value: Any = frame
                duration = None
                if error is None:
                    if read_duration and index == 0:
                        duration = _duration_of_frame(frame)
                    if transform is not None:
                        try:
                            value = transform(frame)
                        except BaseException as exc:
                            value, error = None, exc
                # The value slot carries (part index, value); the drain puts the parts together.
                mailbox.inbox.append(
                    (generation, n, (index, value), error, time.perf_counter() - requested, duration)
                )
                if not mailbox.pending:
                    mailbox.pending = True
                    mailbox.wake(mailbox)

            node.get_frame_async(n, completed)

    # -- the pump's thread -----------------------------------------------------------------------

    def _drain(self) -> None:
        # Clear the flag before emptying the inbox: a completion after this point schedules a new drain.
        self._mailbox.pending = False
        inbox = self._mailbox.inbox
        ready = self._ready
        generation = self._generation
        drained = 0
        if not self._bundle:
            while inbox:
                item = inbox.popleft()
                if item[0] == generation:
                    ready[item[1]] = item
                    drained += 1
        else:
            while inbox:
                item = inbox.popleft()
                if item[0] == generation:
                    drained += self._add_part(item)
        self._in_flight -= drained
        if self._running:
            if self._pacing is None:
                self._deliver_ready()
            else:
                self._deliver_paced()
            self._request_more()

    def _add_part(self, item: tuple[int, int, Any, BaseException | None, float, float | None]) -> int:
        """Collect one part of a bundle; 1 once the bundle is complete (and ready), else 0."""
        generation, n, (index, value), error, seconds, duration = item
        parts = self._parts.get(n)
        if parts is None:
            # [values, parts missing, first error, slowest part's seconds, duration]
            parts = self._parts[n] = [[None] * len(self._nodes), len(self._nodes), None, 0.0, None]
        parts[0][index] = value
        parts[1] -= 1
        if error is not None and parts[2] is None:
            parts[2] = error
        parts[3] = max(parts[3], seconds)
        if index == 0:
            parts[4] = duration
        if parts[1]:
            return 0
        del self._parts[n]
        error = parts[2]
        self._ready[n] = (
            generation,
            n,
            None if error is not None else tuple(parts[0]),
            error,
            parts[3],
            parts[4],
        )
        return 1

    def _deliver_ready(self) -> None:
        ready = self._ready
        generation = self._generation
        deliver = self._deliver
        delivered = 0
        failed = 0
        try:
            while (item := ready.pop(self._next_deliver, None)) is not None:
                _, n, value, error, seconds, _ = item
                self._next_deliver = n + 1
                if error is not None:
                    failed += 1
                    self._fail(n, error)
                else:
                    delivered += 1
                    deliver(n, value, seconds)
                if self._generation != generation:
                    return  # the consumer seeked or stopped from inside its callback
        finally:
            if self._generation == generation:
                self._unreleased -= failed + delivered if self._auto_release else failed
        if self._next_deliver >= self._end:
            self._finish()

    def _deliver_paced(self) -> None:
        """Deliver the next frame if it is due; otherwise wake up when it will be."""
        pacing = self._pacing
        assert pacing is not None
        ready = self._ready
        generation = self._generation
        clock = pacing.clock
        while (item := ready.get(self._next_deliver)) is not None:
            _, n, value, error, seconds, props_duration = item
            now = clock.now()
            due = now if pacing.due is None else pacing.due
            if now < due:
                if pacing.cancel_timer is None:
                    pacing.cancel_timer = clock.call_later(due - now, self._on_due)
                return
            del ready[n]
            self._next_deliver = n + 1
            if error is not None:
                self._unreleased -= 1
                self._fail(n, error)
            else:
                try:
                    duration = pacing.duration(n, props_duration)
                except ValueError as exc:
                    self._unreleased -= 1
                    self._fail(n, exc)
                else:
                    late = due + duration <= now and pacing.policy == "drop" and n + 1 < self._end
                    pacing.due = (max(due, now) if pacing.policy == "every" else due) + duration
                    if late:
                        self._unreleased -= 1
                        self._drop(n)
                    else:
                        if self._auto_release:
                            self._unreleased -= 1
                        self._deliver(n, value, seconds)
                        if self._generation != generation:
                            return
                        continue  # the next frame is due one duration later: normally not yet
            if self._generation != generation:
                return
        if self._next_deliver >= self._end:
            self._finish()

    def _on_due(self) -> None:
        pacing = self._pacing
        if pacing is None or not self._running:
            return
        pacing.cancel_timer = None  # this was its call
        self._deliver_paced()
        self._request_more()

    def _finish(self) -> None:
        if self._running:
            self._running = False
            if self._pacing is not None:
                self._pacing.stop_timer()
            self._done()


def _duration_of_frame(frame: vs.VideoFrame | None) -> float | None:
    """A frame's ``_DurationNum / _DurationDen`` in seconds (None if it does not say)."""
    if frame is None:
        return None
    props = frame.props
    num = props.get("_DurationNum")
    den = props.get("_DurationDen")
    if isinstance(num, int) and isinstance(den, int) and num > 0 and den > 0:
        return num / den
    return None


class FrameStream(QtCore.QObject):
    """Frames of a node delivered to widget code as Qt signals, in order, on the stream's thread.

    ``frameReady(n, value, seconds)`` carries each frame (or what ``transform`` made of it, e.g. a
    QImage from :func:`vsengine_qt.frame_to_qimage`; for a bundle of nodes, a tuple of them, and
    ``transform`` may be a sequence with one transform, or None, per node),
    ``frameFailed(n, error)`` a frame that failed to render, ``frameDropped(n)`` a frame that paced
    playback skipped to keep time, and ``finished()`` follows the last frame of the range.
    :meth:`seek` delivers as fast as the frames come, :meth:`play` at the clip's rate; frames of the
    old position that are still rendering are dropped.

    The stream's thread is the thread that creates it: the Qt main thread normally, or a worker
    ``QThread`` (its Qt event loop is enough, no asyncio loop is needed there). Its methods must be
    called on that thread. With ``auto_release=False`` each delivered frame counts against
    ``backlog`` until :meth:`release` (so a consumer that keeps frames, e.g. a playback buffer, holds
    VapourSynth back); by default a frame is released once the ``frameReady`` slots return.
    ``clock`` is what :meth:`play` reads time from (default :class:`vsengine_qt.QtClock`; tests use
    :class:`vsengine_qt.ManualClock`).
    """

    frameReady = Signal(int, object, float)
    frameFailed = Signal(int, object)
    frameDropped = Signal(int)
    finished = Signal()

    def __init__(
        self,
        node: vs.VideoNode | Sequence[vs.VideoNode],
        *,
        prefetch: int | None = None,
        backlog: int | None = None,
        transform: Callable[[vs.VideoFrame], Any]
        | Sequence[Callable[[vs.VideoFrame], Any] | None]
        | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        parent: QtCore.QObject | None = None,
        auto_release: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(parent)
        _check_nodes(node)  # video only here (the pump also takes audio)
        self._pump = FramePump(
            node,
            self.frameReady.emit,
            self.frameFailed.emit,
            self.finished.emit,
            prefetch=prefetch,
            backlog=backlog,
            transform=transform,
            loop=loop,
            auto_release=auto_release,
            drop=self.frameDropped.emit,
            clock=clock,
        )

    @property
    def pump(self) -> FramePump:
        return self._pump

    @property
    def position(self) -> int:
        """The number of the next frame to be delivered."""
        return self._pump.position

    @property
    def running(self) -> bool:
        return self._pump.running

    @property
    def playing(self) -> bool:
        """True during a :meth:`play` that has frames left to deliver."""
        return self._pump.playing

    def seek(self, start: int, end: int | None = None) -> None:
        """Deliver ``[start, end)`` from now on, as fast as they come; whatever was in flight is dropped."""
        self._pump.seek(start, end)

    def play(
        self,
        start: int | None = None,
        end: int | None = None,
        *,
        fps: Fraction | float | None = None,
        speed: float = 1.0,
        policy: Policy = "every",
    ) -> None:
        """Deliver ``[start, end)`` (default: from the current position) at the clip's rate.

        See :meth:`FramePump.play`: ``fps`` overrides the rate (a VFR clip, or ``fps=0``, follows
        each frame's ``_DurationNum/_DurationDen``), ``speed`` scales it, ``policy`` is ``"every"``
        (show every frame), ``"catch_up"`` (every frame, on the timeline) or ``"drop"`` (keep time:
        ``frameDropped(n)`` for a frame that is too late).
        """
        self._pump.play(start, end, fps=fps, speed=speed, policy=policy)

    def release(self, count: int = 1) -> None:
        """With ``auto_release=False``: the consumer is done with ``count`` delivered frames."""
        self._pump.release(count)

    def stop(self) -> None:
        self._pump.stop()

    def pause(self) -> None:
        """Stop requesting new frames (frames in flight are still delivered)."""
        self._pump.pause()

    def resume(self) -> None:
        self._pump.resume()

    def close(self) -> None:
        self._pump.close()


class FrameIterator:
    """An async iterator over :class:`Delivered` frames, in order; :meth:`seek` jumps elsewhere.

    A frame that failed to render raises its error from ``__anext__`` at its position; iterating
    again continues with the next frame. Close it (``async with``, :meth:`aclose` or :meth:`close`)
    to stop requesting frames.
    """

    def __init__(
        self,
        node: vs.VideoNode | Sequence[vs.VideoNode],
        start: int = 0,
        end: int | None = None,
        *,
        prefetch: int | None = None,
        backlog: int | None = None,
        transform: Callable[[vs.VideoFrame], Any] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        _check_nodes(node)  # a wrong node is the first thing to say
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "frames() delivers through the running asyncio loop: call it in a coroutine on the "
                    "Qt thread while qtinter's loop runs (see vsengine_qt.setup()), or pass loop=..."
                ) from None
        self._loop = loop
        self._buffer: collections.deque[Delivered | tuple[int, BaseException]] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._finished = False
        self._pump = FramePump(
            node,
            self._on_frame,
            self._on_failure,
            self._on_done,
            prefetch=prefetch,
            backlog=backlog,
            transform=transform,
            loop=loop,
            auto_release=False,
        )
        self._pump._wake_on_loop()
        self.seek(start, end)

    @property
    def pump(self) -> FramePump:
        return self._pump

    @property
    def buffered(self) -> int:
        """Frames (and failures) delivered and not yet taken: ``__anext__`` returns at once while > 0."""
        return len(self._buffer)

    def seek(self, start: int, end: int | None = None) -> None:
        """Continue with frame ``start`` (up to ``end``, default the clip's end); frames buffered or in
        flight for the old position are dropped."""
        self._buffer.clear()
        self._finished = False
        self._pump.seek(start, end)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_frame(self, n: int, value: Any, seconds: float) -> None:
        # Per frame: tuple.__new__ without the Python-level __new__ of the named tuple, and the wake-up
        # inline (a waiter exists only while the consumer waits on an empty buffer).
        self._buffer.append(_new_tuple(Delivered, (n, value, seconds)))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_failure(self, n: int, error: BaseException) -> None:
        self._buffer.append((n, error))
        self._wake()

    def _on_done(self) -> None:
        self._finished = True
        self._wake()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Delivered:
        buffer = self._buffer
        while not buffer:
            if self._finished or not self._pump.running:
                raise StopAsyncIteration
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = buffer.popleft()
        if type(item) is Delivered:  # a frame (a failure is a plain (n, error) tuple)
            self._pump._release_delivered()
            return item
        raise item[1]

    def close(self) -> None:
        self._buffer.clear()
        self._pump.close()
        self._wake()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def frames(
    node: vs.VideoNode | Sequence[vs.VideoNode],
    start: int = 0,
    end: int | None = None,
    *,
    prefetch: int | None = None,
    backlog: int | None = None,
    transform: Callable[[vs.VideoFrame], Any] | None = None,
) -> FrameIterator:
    """Iterate over the frames ``[start, end)`` of ``node`` on the running loop's thread, in order.

    ``prefetch`` frames are rendered ahead (default :func:`default_prefetch`); ``transform`` (e.g.
    :func:`vsengine_qt.frame_to_qimage`) runs on VapourSynth's threads as each frame completes. A
    sequence of nodes is delivered as bundles: one tuple of values per frame number::

        async with vsengine_qt.frames(node) as it:
            async for delivered in it:
                show(delivered.n, delivered.value)
    """
    return FrameIterator(node, start, end, prefetch=prefetch, backlog=backlog, transform=transform)
