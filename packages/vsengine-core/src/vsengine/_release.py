"""Delayed release of disposed cores.

VapourSynth invalidates every frame and node of an environment when the environment is destroyed.
A script reload in a previewer must not break the frame that is still on screen, so a disposed
environment is only destroyed once nothing refers to its core any more:

* no node, plugin or function object holds the core (its reference count is back to the value it
  had right after the environment was created), and
* no frame buffer is in use (after dropping the core's caches).

The check runs at once when the environment is disposed; if the core is still in use, a daemon
thread re-checks with a growing interval (up to half a second) until it can release it.
``Policy.unregister()`` releases whatever is left for that policy.

VapourSynth itself holds a finished frame until just after the completion callback has returned,
which is after the code waiting for the frame has been woken. So right after frame requests of an
environment finished, the core may still look in use for a moment: `FrameActivity` records when
the vsengine frame helpers last received a frame, and ``Policy.unregister()`` gives such an
environment up to `SETTLE` seconds from then before it releases it by force.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import vapoursynth as vs

# Imported before this module registers its atexit handler, so that _compat's runs after it (LIFO):
# worker threads of the cores destroyed at exit still free their kept thread states.
from vsengine import _compat  # noqa: F401

if TYPE_CHECKING:
    from collections.abc import Iterable

    from vsengine.policy import _ManagedPolicy

__all__ = ["SETTLE", "FrameActivity", "PendingRelease", "ReleaseQueue", "activity_of", "release_queue"]

_logger = logging.getLogger("vsengine.policy")

_FIRST_DELAY = 0.01
_MAX_DELAY = 0.5

#: Seconds after the last frame delivered in an environment during which ``Policy.unregister()``
#: waits for VapourSynth to let go of the environment's frames before releasing it anyway.
SETTLE = 0.5


class FrameActivity:
    """When (``time.monotonic()``) VapourSynth last delivered a frame of one environment.

    The frame helpers of `vsengine.video` set `last` for every frame they receive.
    """

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = -SETTLE


_activities: weakref.WeakKeyDictionary[vs.EnvironmentData, FrameActivity] = weakref.WeakKeyDictionary()
_activities_lock = threading.Lock()


def activity_of(data: vs.EnvironmentData) -> FrameActivity:
    """The `FrameActivity` of the environment `data` (made on first use, gone with the environment)."""
    activity = _activities.get(data)
    if activity is None:
        with _activities_lock:
            activity = _activities.setdefault(data, FrameActivity())
    return activity


@dataclass(eq=False)
class PendingRelease:
    """A disposed environment waiting to be destroyed."""

    data: vs.EnvironmentData
    api: vs.EnvironmentPolicyAPI
    managed: _ManagedPolicy
    baseline: int | None
    name: str
    activity: FrameActivity = field(init=False)

    def __post_init__(self) -> None:
        self.activity = activity_of(self.data)

    def in_use(self) -> str | None:
        """Describe what still uses the core, or return None when it can be released."""
        with self.managed.inline(self.data):
            core = vs.core.core
            core.clear_cache()
            if self.baseline is not None and sys.getrefcount(core) > self.baseline:
                return f"{sys.getrefcount(core) - self.baseline} reference(s) to its core"
            used: int = core.used_cache_size
            if used > 0:
                return f"{used} bytes of frames"
            return None

    def release(self) -> None:
        """Destroy the environment now."""
        # VapourSynth runs the core's on-destroy callbacks in this environment: the inline section
        # keeps that switch on this thread (a GlobalStore would show it to every thread).
        with self.managed.inline(self.data):
            self.api.destroy_environment(self.data)
        _logger.debug("Released the core of %s.", self.name)


class ReleaseQueue:
    """Disposed environments whose cores are still referenced."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._wakeup = threading.Condition(self._lock)
        self._pending: list[PendingRelease] = []
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def submit(self, entry: PendingRelease) -> None:
        """Release ``entry`` now if nothing uses it, otherwise once nothing does."""
        with self._lock:
            if self._try_release(entry):
                return
            self._pending.append(entry)
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="vsengine-release", daemon=True)
                try:
                    thread.start()
                except RuntimeError:
                    # The interpreter is shutting down (an atexit handler disposed it): no thread
                    # can wait for the core any more. `release_at_exit` destroys it.
                    _logger.debug("Not waiting for %s: the interpreter is shutting down.", entry.name)
                else:
                    self._thread = thread
            self._wakeup.notify_all()

    def poll(self) -> None:
        """Release every pending environment that nothing uses any more."""
        with self._lock:
            self._pending = [entry for entry in self._pending if not self._try_release(entry)]

    def wait_until_empty(self, timeout: float) -> bool:
        """Wait until no disposed environment is waiting for its release; False if `timeout`
        seconds passed first (the release thread wakes the waiters when it has released them all)."""
        with self._lock:
            return self._wakeup.wait_for(lambda: not self._pending, timeout)

    def still_in_use(self, managed: _ManagedPolicy) -> list[tuple[PendingRelease, str]]:
        """Release what of ``managed`` can be released now; the rest, each with what still uses it."""
        with self._lock:
            self.poll()
            mine = [entry for entry in self._pending if entry.managed is managed]
            return [(entry, self._safe_in_use(entry) or "in use") for entry in mine]

    def flush(self, managed: _ManagedPolicy, also: Iterable[PendingRelease] = ()) -> None:
        """Release every pending environment of ``managed`` now, even if still in use.

        ``also``: environments of ``managed`` that were never disposed (their policy is going away).
        An environment that got frames less than `SETTLE` seconds ago gets until then to be let go
        of by VapourSynth.
        """
        with self._lock:
            mine = [entry for entry in self._pending if entry.managed is managed]
            self._pending = [entry for entry in self._pending if entry.managed is not managed]
        mine.extend(also)
        for entry in mine:
            reason = self._settled_in_use(entry)
            if reason is not None:
                # Frames in use are what a user notices; stale node references are common.
                level = logging.WARNING if reason.endswith("frames") else logging.DEBUG
                _logger.log(
                    level,
                    "Releasing %s while %s still in use: they are invalid from now on.",
                    entry.name,
                    reason,
                )
            self._safe_release(entry)

    def _settled_in_use(self, entry: PendingRelease) -> str | None:
        """`in_use`, once VapourSynth has finished with recently delivered frames (see `SETTLE`)."""
        delay = 0.0005
        while (reason := self._safe_in_use(entry)) is not None:
            remaining = entry.activity.last + SETTLE - time.monotonic()
            if remaining <= 0:
                return reason
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.02)
        return None

    def release_at_exit(self) -> None:
        """Destroy every pending environment now: the interpreter is exiting (an atexit handler).

        Left to the interpreter's teardown, their data would be collected without
        ``destroy_environment`` while frames of theirs are freed, and the process would end with
        errors on stderr.
        """
        with self._lock:
            pending, self._pending = self._pending, []
        for entry in pending:
            if entry.managed._api is not None:
                self._safe_release(entry)

    def _try_release(self, entry: PendingRelease) -> bool:
        if entry.managed._api is None:
            return True  # the policy is gone and VapourSynth destroyed the environment with it
        if self._safe_in_use(entry) is not None:
            return False
        self._safe_release(entry)
        return True

    @staticmethod
    def _safe_in_use(entry: PendingRelease) -> str | None:
        try:
            return entry.in_use()
        except (vs.Error, RuntimeError):
            return None  # the environment is already dead

    @staticmethod
    def _safe_release(entry: PendingRelease) -> None:
        try:
            entry.release()
        except (vs.Error, RuntimeError):
            _logger.debug("Releasing %s failed.", entry.name, exc_info=True)

    def _run(self) -> None:
        delay = _FIRST_DELAY
        with self._lock:
            while self._pending:
                self._wakeup.wait(delay)
                self._pending = [entry for entry in self._pending if not self._try_release(entry)]
                delay = min(delay * 2, _MAX_DELAY)
            self._thread = None
            self._wakeup.notify_all()  # wait_until_empty()


#: The process-wide queue (environments of every policy).
release_queue = ReleaseQueue()
# Registered when vsengine is imported, so it runs after the atexit handlers of the application
# (which may dispose environments), before the interpreter tears the modules down.
atexit.register(release_queue.release_at_exit)
