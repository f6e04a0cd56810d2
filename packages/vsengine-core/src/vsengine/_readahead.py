"""An in-order read-ahead window over asynchronously produced items (usually frames).

`read_ahead` hands out one future per index, strictly in order, while keeping up to `prefetch`
requests in flight and at most `backlog` finished-but-not-yet-consumed results buffered.

Nothing here ever waits: the generator returns a future for the next index at once (requesting it
on the spot if the window had not reached it yet) and all bookkeeping happens in the completion
callbacks. Whoever consumes the futures waits on them (``Future.result()`` or ``await``), so a
consumer blocked on a slow frame sleeps instead of spinning.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

__all__ = ["read_ahead"]


class _Window[T]:
    """Shared state between the consuming generator and the completion callbacks."""

    def __init__(
        self,
        count: int,
        request: Callable[[int], Future[T]],
        prefetch: int,
        backlog: int,
        discard: Callable[[T], None] | None,
        slot_factory: Callable[[], Future[T]],
    ) -> None:
        self._count = count
        self._slot_factory = slot_factory
        self._request = request
        self._prefetch = prefetch
        self._backlog = backlog
        self._discard = discard
        # Reentrant: the garbage collector may finalize an abandoned generator (-> close()) at any
        # allocation, also inside a section that already holds the lock on this thread.
        self._lock = threading.RLock()
        #: Slot futures handed out (or to be handed out) to the consumer, by index, not yet taken.
        self._slots: dict[int, Future[T]] = {}
        #: Indices in `_slots` whose request already finished (the buffered results).
        self._finished: set[int] = set()
        self._running = 0
        self._next_request = 0
        self._stopped = False

    # -- called with the lock held ----------------------------------------------------------------

    def _reserve(self) -> list[tuple[int, Future[T]]]:
        """Claims as many new indices as the window allows; the caller requests them unlocked."""
        claimed: list[tuple[int, Future[T]]] = []
        while (
            not self._stopped
            and self._next_request < self._count
            and self._running < self._prefetch
            and self._running + len(self._finished) < self._backlog
        ):
            claimed.append(self._claim(self._next_request))
        return claimed

    def _claim(self, index: int) -> tuple[int, Future[T]]:
        slot = self._slot_factory()
        self._slots[index] = slot
        self._running += 1
        self._next_request = index + 1
        return index, slot

    # -- unlocked ---------------------------------------------------------------------------------

    def _start(self, claimed: list[tuple[int, Future[T]]]) -> None:
        for index, slot in claimed:
            try:
                source = self._request(index)
            except BaseException as exc:
                # The request itself failed: deliver the error in order, like a failed frame.
                source = Future()
                source.set_exception(exc)
            source.add_done_callback(functools.partial(self._on_done, index, slot))

    def _on_done(self, index: int, slot: Future[T], source: Future[T]) -> None:
        failed = source.cancelled() or source.exception() is not None
        with self._lock:
            self._running -= 1
            if index in self._slots:
                self._finished.add(index)
            if failed:
                # Stop reading ahead past an error; the consumer meets it in order.
                self._stopped = True
            claimed = self._reserve()
        self._transfer(source, slot)
        self._start(claimed)

    def _transfer(self, source: Future[T], slot: Future[T]) -> None:
        try:
            if source.cancelled():
                slot.cancel()
            elif (exc := source.exception()) is not None:
                slot.set_exception(exc)
            else:
                value = source.result()
                try:
                    slot.set_result(value)
                except InvalidStateError:
                    # Cancelled by its consumer, or abandoned when the generator closed.
                    self._drop(value)
        except InvalidStateError:
            pass

    def _drop(self, value: T) -> None:
        if self._discard is not None:
            self._discard(value)

    def take(self, index: int) -> Future[T]:
        """Returns the future for `index` (requesting it now if needed) and refills the window."""
        with self._lock:
            # If the window never reached this index (or the consumer outran the callbacks),
            # request it on demand instead of waiting for the window to move.
            claimed = [] if index in self._slots else [self._claim(index)]
            slot = self._slots.pop(index)
            self._finished.discard(index)
            claimed.extend(self._reserve())
        self._start(claimed)
        return slot

    def close(self) -> None:
        """Stops reading ahead and releases the results nobody will consume."""
        with self._lock:
            self._stopped = True
            leftovers = list(self._slots.values())
            self._slots.clear()
            self._finished.clear()
        for slot in leftovers:
            if slot.cancel():
                continue
            # Already finished: release its value.
            if slot.exception() is None:
                self._drop(slot.result())


def read_ahead[T](
    count: int,
    request: Callable[[int], Future[T]],
    *,
    prefetch: int,
    backlog: int,
    discard: Callable[[T], None] | None = None,
    slot_factory: Callable[[], Future[T]] = Future,
) -> Generator[Future[T]]:
    """Yields the future of ``request(i)`` for ``i in range(count)``, in order, reading ahead.

    Args:
        count: number of items.
        request: starts producing item ``i`` and returns its future. Called from the consuming
            thread or from the completion callback of an earlier request.
        prefetch: maximum number of requests in flight (at least 1).
        backlog: maximum number of requests in flight plus results finished but not yet
            consumed (at least `prefetch`).
        discard: called with every result that will never be consumed (e.g. to close frames)
            when the generator is closed early.
        slot_factory: creates the futures handed out (e.g. a `Future` subclass).
    """
    if prefetch < 1:
        raise ValueError(f"prefetch must be at least 1, got {prefetch}")
    window = _Window(count, request, prefetch, max(backlog, prefetch), discard, slot_factory)
    try:
        for index in range(count):
            yield window.take(index)
    finally:
        window.close()
