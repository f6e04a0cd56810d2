"""Environment policies: run several independent VapourSynth cores in one process.

A :class:`Policy` registers itself with VapourSynth (``vapoursynth.register_policy``) and decides,
through an :class:`EnvironmentStore`, which environment is current. Each
:class:`ManagedEnvironment` owns one VapourSynth core; dispose it when you are done with it.

Disposing an environment never invalidates frames or nodes that are still referenced: the core is
released once nothing refers to it any more (see :mod:`vsengine._release`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import threading
import warnings
import weakref
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING, Self

import vapoursynth as vs

from vsengine._admission import withdraw
from vsengine._release import PendingRelease, release_queue

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

__all__ = [
    "ContextVarStore",
    "EnvironmentStore",
    "GlobalStore",
    "ManagedEnvironment",
    "Policy",
    "ThreadLocalStore",
]

_logger = logging.getLogger(__name__)

#: VapourSynth message types mapped to ``logging`` levels.
_LOG_LEVELS = {
    vs.MESSAGE_TYPE_DEBUG: logging.DEBUG,
    vs.MESSAGE_TYPE_INFORMATION: logging.INFO,
    vs.MESSAGE_TYPE_WARNING: logging.WARNING,
    vs.MESSAGE_TYPE_CRITICAL: logging.ERROR,
    vs.MESSAGE_TYPE_FATAL: logging.CRITICAL,
}

_env_ids = itertools.count(1)

#: The vsengine policy registered with VapourSynth right now (None: none, or not a vsengine one).
_registered: _ManagedPolicy | None = None


def registered_policy() -> _ManagedPolicy | None:
    """The vsengine policy VapourSynth talks to right now, if any. Never calls into VapourSynth."""
    return _registered


class EnvironmentStore:
    """Where a :class:`Policy` keeps the current environment.

    Subclass it to tie the current environment to something else (a Qt widget, a request, ...)
    and implement both methods. It is a plain class, not an :class:`abc.ABC`, so that it mixes with
    classes that have a metaclass of their own (``QObject``).
    """

    def set_current_environment(self, environment: vs.EnvironmentData | None) -> None:
        """Make ``environment`` the current one (``None``: no environment is current)."""
        raise NotImplementedError(f"{type(self).__name__} must implement set_current_environment().")

    def get_current_environment(self) -> vs.EnvironmentData | None:
        """Return the current environment, or ``None``."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_current_environment().")


class GlobalStore(EnvironmentStore):
    """One current environment for the whole process. Fastest; not thread- or task-safe."""

    _current: vs.EnvironmentData | None

    def __init__(self) -> None:
        self._current = None

    def set_current_environment(self, environment: vs.EnvironmentData | None) -> None:
        self._current = environment

    def get_current_environment(self) -> vs.EnvironmentData | None:
        return self._current


class ThreadLocalStore(EnvironmentStore):
    """One current environment per thread."""

    def __init__(self) -> None:
        self._stored = threading.local()

    def set_current_environment(self, environment: vs.EnvironmentData | None) -> None:
        self._stored.environment = environment

    def get_current_environment(self) -> vs.EnvironmentData | None:
        env: vs.EnvironmentData | None = getattr(self._stored, "environment", None)
        return env


class ContextVarStore(EnvironmentStore):
    """One current environment per :mod:`contextvars` context: per asyncio task or trio task."""

    def __init__(self, name: str = "vsengine_environment") -> None:
        self._current: ContextVar[vs.EnvironmentData | None] = ContextVar(name, default=None)

    def set_current_environment(self, environment: vs.EnvironmentData | None) -> None:
        self._current.set(environment)

    def get_current_environment(self) -> vs.EnvironmentData | None:
        return self._current.get()


class _ManagedPolicy(vs.EnvironmentPolicy):
    """The object VapourSynth talks to. Private: users hold a :class:`Policy`."""

    def __init__(self, store: EnvironmentStore) -> None:
        self._store = store
        self._api: vs.EnvironmentPolicyAPI | None = None
        # Per thread: the stack of inline sections (innermost last).
        self._inline = threading.local()
        self._disposed: weakref.WeakSet[vs.EnvironmentData] = weakref.WeakSet()

    # -- VapourSynth's side -------------------------------------------------------------------------

    def on_policy_registered(self, special_api: vs.EnvironmentPolicyAPI) -> None:
        global _registered
        self._api = special_api
        _registered = self

    def on_policy_cleared(self) -> None:
        global _registered
        self._api = None
        if _registered is self:
            _registered = None

    def get_current_environment(self) -> vs.EnvironmentData | None:
        stack: list[vs.EnvironmentData | None] | None = getattr(self._inline, "stack", None)
        if stack:
            return stack[-1]
        environment = self._store.get_current_environment()
        if environment is None:
            return None
        if not self.is_alive(environment):
            # Disposed elsewhere (another thread or task still pointed at it). The disposing
            # thread resets its own store in ManagedEnvironment.dispose(); here we only clean up.
            self._store.set_current_environment(None)
            warnings.warn(
                f"The current VapourSynth environment {environment!r} has been disposed; "
                "no environment is current any more.",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
        return environment

    def set_environment(self, environment: vs.EnvironmentData | None) -> vs.EnvironmentData | None:
        stack: list[vs.EnvironmentData | None] | None = getattr(self._inline, "stack", None)
        if stack:
            # Inside an inline section switches stay local to this thread and section.
            previous = stack[-1]
            stack[-1] = environment
            return previous
        previous = self._store.get_current_environment()
        self._store.set_current_environment(environment)
        if previous is not None and not self.is_alive(previous):
            return None
        return previous

    def is_alive(self, environment: vs.EnvironmentData) -> bool:
        return environment not in self._disposed and bool(super().is_alive(environment))

    # -- vsengine's side -----------------------------------------------------------------------------

    def peek_current_environment(self) -> vs.EnvironmentData | None:
        """The environment current for the caller, from this policy's own state (``None``: none).

        Unlike :meth:`get_current_environment` it never calls into VapourSynth and never warns,
        so it is cheap and safe anywhere, also in a garbage-collector finalizer that happens to run
        while VapourSynth holds one of its locks. A disposed environment counts as none.
        """
        stack: list[vs.EnvironmentData | None] | None = getattr(self._inline, "stack", None)
        environment = stack[-1] if stack else self._store.get_current_environment()
        if environment is None or environment in self._disposed:
            return None
        return environment

    @contextlib.contextmanager
    def inline_captured(self, environment: vs.EnvironmentData) -> Iterator[None]:
        """An inline section of ``environment``, captured earlier with :meth:`peek_current_environment`.

        Raises ``RuntimeError`` if it has been disposed since (or the policy was unregistered).
        """
        if self._api is None or environment in self._disposed:
            raise RuntimeError(
                "The environment is dead: the VapourSynth environment captured by keep_environment() "
                "(or a UnifiedFuture callback) has been disposed."
            )
        with self.inline(environment):
            yield

    @contextlib.contextmanager
    def inline(self, environment: vs.EnvironmentData) -> Iterator[None]:
        stack: list[vs.EnvironmentData | None] | None = getattr(self._inline, "stack", None)
        if stack is None:
            stack = self._inline.stack = []
        stack.append(environment)
        try:
            yield
        finally:
            stack.pop()

    def mark_disposed(self, environment: vs.EnvironmentData) -> None:
        self._disposed.add(environment)
        if self._store.get_current_environment() is environment:
            self._store.set_current_environment(None)


class Policy:
    """A VapourSynth environment policy backed by an :class:`EnvironmentStore`.

    Register it (``with Policy(store) as policy:`` or :meth:`register`) before creating
    environments with :meth:`new_environment`. ``flags_creation`` are the
    ``vapoursynth.CoreCreationFlags`` used for new cores unless :meth:`new_environment` is given
    its own.
    """

    def __init__(self, store: EnvironmentStore, flags_creation: int = 0) -> None:
        candidate: object = store  # checked at run time whatever the annotation says
        if not isinstance(candidate, EnvironmentStore) and not (
            callable(getattr(candidate, "get_current_environment", None))
            and callable(getattr(candidate, "set_current_environment", None))
        ):
            raise TypeError(
                f"Policy(store): store must be a vsengine.policy.EnvironmentStore (such as GlobalStore(), "
                f"ThreadLocalStore() or ContextVarStore()), got {type(store).__name__}"
            )
        self.managed = _ManagedPolicy(store)
        self.flags_creation = flags_creation
        #: Environments created by this policy and not disposed yet (they die with its registration).
        self._environments: weakref.WeakSet[ManagedEnvironment] = weakref.WeakSet()

    def register(self) -> None:
        """Register this policy with VapourSynth (only one policy can be registered at a time)."""
        vs.register_policy(self.managed)

    def unregister(self) -> None:
        """Unregister the policy.

        VapourSynth destroys every environment of the policy with it: environments not disposed
        yet count as disposed from now on (using them raises ``RuntimeError``). Disposed
        environments whose release was still pending are released now; frames and nodes that still
        refer to them become invalid (VapourSynth raises a clear error on use).
        """
        api = self.api
        live = [environment._policy_unregistered(api) for environment in list(self._environments)]
        self._environments.clear()
        release_queue.flush(self.managed, [entry for entry in live if entry is not None])
        api.unregister_policy()

    def __enter__(self) -> Self:
        self.register()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unregister()

    @property
    def api(self) -> vs.EnvironmentPolicyAPI:
        """VapourSynth's special API for this policy. Raises if the policy is not registered."""
        if self.managed._api is None:
            raise RuntimeError(
                "This Policy is not registered; call register() or use it as a context manager."
            )
        return self.managed._api

    def new_environment(self, flags: int | None = None) -> ManagedEnvironment:
        """Create a new environment with its own core.

        ``flags`` (``vapoursynth.CoreCreationFlags``) override the policy's ``flags_creation`` for
        this environment. The environment's VapourSynth log messages go to the ``logging`` logger
        ``vsengine.env.<n>`` (see :attr:`ManagedEnvironment.logger`).
        """
        api = self.api
        release_queue.poll()
        data = api.create_environment(self.flags_creation if flags is None else flags)
        environment = api.wrap_environment(data)
        logger = logging.getLogger(f"vsengine.env.{next(_env_ids)}")
        with self.managed.inline(data):
            core = vs.core.core
            handle = core.add_log_handler(_LogForwarder(logger))
            baseline = sys.getrefcount(core)
            del core
        managed_environment = ManagedEnvironment(
            environment, data, self, logger=logger, _log_handle=handle, _baseline=baseline
        )
        self._environments.add(managed_environment)
        return managed_environment


class _LogForwarder:
    """Forwards a core's messages to a logger. Holds no reference to the environment."""

    __slots__ = ("_logger",)

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def __call__(self, message_type: vs.MessageType, message: str) -> None:
        self._logger.log(_LOG_LEVELS.get(message_type, logging.WARNING), "%s", message)


class ManagedEnvironment:
    """A VapourSynth environment (one core) created by :meth:`Policy.new_environment`.

    Use it with :meth:`use`; dispose it with :meth:`dispose` or as a context manager. An
    environment that is garbage-collected without being disposed emits a ``ResourceWarning``.
    """

    _data: vs.EnvironmentData | None

    def __init__(
        self,
        environment: vs.Environment,
        data: vs.EnvironmentData,
        policy: Policy,
        *,
        logger: logging.Logger | None = None,
        _log_handle: vs.LogHandle | None = None,
        _baseline: int | None = None,
    ) -> None:
        self._environment = environment
        self._data = data
        self._policy = policy
        self._lock = threading.Lock()
        self._log_handle = _log_handle
        self._baseline = _baseline
        self._final_outputs: MappingProxyType[int, vs.VideoOutputTuple | vs.AudioNode] = MappingProxyType({})
        #: Why the environment is dead, for the error message (set by dispose or unregister).
        self._death = "has been disposed"
        self.logger = logger if logger is not None else logging.getLogger(f"vsengine.env.{next(_env_ids)}")

    def __repr__(self) -> str:
        state = "disposed" if self.disposed else "alive"
        return f"<{type(self).__name__} {self.logger.name} ({state})>"

    def _alive_data(self) -> vs.EnvironmentData:
        data = self._data
        if data is None:
            raise RuntimeError(f"{self!r} {self._death}.")
        return data

    @property
    def disposed(self) -> bool:
        """True once :meth:`dispose` has been called or the environment's policy was unregistered."""
        return self._data is None

    @property
    def vs_environment(self) -> vs.Environment:
        """The ``vapoursynth.Environment`` of this environment (``alive`` is False once disposed)."""
        return self._environment

    @property
    def core(self) -> vs.Core:
        """The core of this environment."""
        with self.inline_section():
            return vs.core.core

    @property
    def outputs(self) -> MappingProxyType[int, vs.VideoOutputTuple | vs.AudioNode]:
        """The outputs set in this environment (read-only view).

        After :meth:`dispose` it is the outputs as they were when the environment was disposed.
        """
        if self._data is None:
            return self._final_outputs
        with self.inline_section():
            return vs.get_outputs()

    @contextlib.contextmanager
    def inline_section(self) -> Iterator[None]:
        """Make this environment current for the calling thread inside the block.

        Unlike :meth:`use` it does not touch the store: other threads and tasks are unaffected.
        Inline sections nest (the outer environment is current again after the inner block).
        """
        data = self._alive_data()
        with self._policy.managed.inline(data):
            yield

    @contextlib.contextmanager
    def use(self) -> Iterator[None]:
        """Make this environment current inside the block (through the policy's store)."""
        self._alive_data()
        with self._environment.use():
            yield

    def switch(self) -> None:
        """Make this environment current without restoring the previous one afterwards."""
        self._policy.managed.set_environment(self._alive_data())

    def dispose(self) -> None:
        """Dispose the environment. Idempotent and thread-safe.

        If the environment is current in the calling thread or task, no environment is current
        afterwards. The core itself is released once no frame or node refers to it any more.
        """
        with self._lock:
            data = self._data
            if data is None:
                return
            self._data = None
        self._policy._environments.discard(self)
        managed = self._policy.managed
        api = managed._api
        managed.mark_disposed(data)
        withdraw(data, f"its environment ({self.logger.name}) has been disposed")
        if api is None:
            # The policy is gone; VapourSynth has already destroyed every environment.
            return
        _logger.debug("Disposing %r.", self)
        with contextlib.suppress(vs.Error, RuntimeError), managed.inline(data):
            self._final_outputs = MappingProxyType(dict(vs.get_outputs()))
            vs.clear_outputs()
        release_queue.submit(
            PendingRelease(data, api, managed, self._log_handle, self._baseline, self.logger.name)
        )
        self._log_handle = None

    def _policy_unregistered(self, api: vs.EnvironmentPolicyAPI) -> PendingRelease | None:
        """Mark the environment dead: its policy is being unregistered, which destroys its core.

        Called by :meth:`Policy.unregister` while the policy is still registered; returns the
        release it must carry out (None: the environment was disposed already).
        """
        with self._lock:
            data = self._data
            if data is None:
                return None
            self._data = None
            self._death = (
                "has been disposed: its Policy was unregistered, which destroyed its core "
                "(create a new environment after registering a policy again)"
            )
        managed = self._policy.managed
        managed.mark_disposed(data)
        withdraw(data, f"its environment ({self.logger.name}) {self._death}")
        with contextlib.suppress(vs.Error, RuntimeError), managed.inline(data):
            self._final_outputs = MappingProxyType(dict(vs.get_outputs()))
        entry = PendingRelease(data, api, managed, self._log_handle, self._baseline, self.logger.name)
        self._log_handle = None
        return entry

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dispose()

    def __del__(self) -> None:
        if getattr(self, "_data", None) is None or sys.is_finalizing():
            return
        try:
            warnings.warn(
                f"{self!r} was garbage-collected without being disposed.", ResourceWarning, stacklevel=1
            )
        finally:
            self.dispose()
