"""Admission of single frame requests: how many of them VapourSynth works on at once.

``vsengine.video.frame`` and ``planes`` can be called any number of times in a row (a
``gather`` over a whole clip is common). Handing each call to VapourSynth at once would queue
all of them inside VapourSynth, where nothing can withdraw a request: disposing the environment
or unregistering the policy then waits until every one of them is rendered (minutes for a few
thousand heavy frames), and an application cannot shut down.

So each environment admits a bounded number of requests (a few per VapourSynth thread, enough to
keep every thread busy) and keeps the rest in a queue on the Python side. A request leaves the queue
when an admitted one finishes, in the order the requests were made. Queued requests cost nothing
in VapourSynth, so they can be withdrawn: a cancelled future is simply skipped, and disposing the
environment (or unregistering its policy) fails every queued request at once with an error that
says why. Only the admitted few are still rendered.
"""

from __future__ import annotations

import collections
import threading
import weakref
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    import vapoursynth as vs

__all__ = ["PER_THREAD", "Request", "admit", "withdraw"]

#: How many requests each VapourSynth thread of the core may have admitted at once. Two keep
#: every thread busy while a finished frame travels back to its consumer.
PER_THREAD = 2


class Request(Protocol):
    """One frame request, as the admission sees it."""

    def start(self, release: Callable[[], None]) -> bool:
        """Hand the request to VapourSynth (``get_frame_async``); call `release` once it is done.

        Never raises: returns False if VapourSynth refused it (the future then holds the error, and
        `release` must not be called).
        """

    def skip(self) -> bool:
        """True if the request no longer needs to be made (its future was cancelled)."""

    def fail(self, reason: str) -> None:
        """Settle the request's future with an error saying `reason`, without asking VapourSynth."""


class _Gate:
    """The admitted count and the queue of one environment."""

    __slots__ = ("admitted", "closed", "limit", "lock", "queue")

    def __init__(self, limit: int) -> None:
        self.lock = threading.Lock()
        self.admitted = 0
        self.limit = limit
        self.queue: collections.deque[Request] = collections.deque()
        #: Why requests are refused from now on (None: open).
        self.closed: str | None = None

    def take(self) -> bool:
        """Take a slot if the gate is open and has room (call with :attr:`lock` held)."""
        if self.closed is None and self.admitted < self.limit:
            self.admitted += 1
            return True
        return False

    def finished(self) -> None:
        """An admitted request is done: admit the next queued one that is still wanted."""
        while True:
            with self.lock:
                if not self.queue:
                    self.admitted -= 1
                    return
                request = self.queue.popleft()
            # The slot passes to `request` (the admitted count stays the same).
            if not request.skip() and request.start(self.finished):
                return


_gates: weakref.WeakKeyDictionary[vs.EnvironmentData, _Gate] = weakref.WeakKeyDictionary()
_gates_lock = threading.Lock()


def admit(data: vs.EnvironmentData, request: Request, threads: Callable[[], int]) -> None:
    """Start `request` now if the environment `data` has room, else queue it.

    `threads` gives the core's thread count; it is asked only when the environment looks full
    (the count can change at any time). A request refused because the environment is dead fails
    at once.
    """
    gate = _gates.get(data)
    if gate is None:
        with _gates_lock:
            gate = _gates.get(data)
            if gate is None:
                gate = _gates[data] = _Gate(PER_THREAD * max(threads(), 1))
    with gate.lock:
        room = gate.take()
    if not room and gate.closed is None:
        # Full: the thread count may have grown since the limit was taken.
        limit = PER_THREAD * max(threads(), 1)
        with gate.lock:
            gate.limit = limit
            room = gate.take()
            if not room and gate.closed is None:
                gate.queue.append(request)
                return
    if not room:
        assert gate.closed is not None
        request.fail(gate.closed)
    elif not request.start(gate.finished):
        gate.finished()


def withdraw(data: vs.EnvironmentData, reason: str) -> None:
    """The environment `data` is dead: fail every request still queued for it with `reason`.

    Requests made afterwards fail the same way. Requests already admitted are VapourSynth's: they
    finish (or fail) as VapourSynth decides.
    """
    with _gates_lock:
        gate = _gates.get(data)
    if gate is None:
        return
    with gate.lock:
        gate.closed = reason
        queued = list(gate.queue)
        gate.queue.clear()
    for request in queued:
        if not request.skip():
            request.fail(reason)
