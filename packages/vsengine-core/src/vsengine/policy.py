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
import os
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
from vsengine._shield import sigint_deferred

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
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

#: Where ``Policy(logger=True)`` sends the messages of VapourSynth's cores.
_vs_logger = logging.getLogger("vapoursynth")

#: VapourSynth message types mapped to ``logging`` levels.
_LOG_LEVELS: dict[int, int] = {
    vs.MESSAGE_TYPE_DEBUG: logging.DEBUG,
    vs.MESSAGE_TYPE_INFORMATION: logging.INFO,
    vs.MESSAGE_TYPE_WARNING: logging.WARNING,
    vs.MESSAGE_TYPE_CRITICAL: logging.ERROR,
    vs.MESSAGE_TYPE_FATAL: logging.CRITICAL,
}

#: What ``Policy(logger=...)`` and ``new_environment(logger=...)`` accept: True (the ``vapoursynth``
#: logger), False (no logging) or a function called with VapourSynth's message type and the message.
type LogHandler = bool | Callable[[int, str], None]

#: Numbers the environments of the process, for messages.
_env_numbers = itertools.count(1)

#: The vsengine policy registered with VapourSynth right now (None: none, or not a vsengine one).
_registered: _ManagedPolicy | None = None

#: Whether some policy was registered before this module was imported (vspipe's, or VapourSynth's
#: standalone policy because ``vapoursynth.core`` was used first).
_policy_before_import = vs.has_policy()

#: Which vsengine call made VapourSynth register its standalone policy, if one did.
_standalone_origin: str | None = None

_package_dir = os.path.dirname(os.path.abspath(__file__)) + os.sep


def registered_policy() -> _ManagedPolicy | None:
    """The vsengine policy VapourSynth talks to right now, if any. Never calls into VapourSynth."""
    return _registered


def current_environment(function: str) -> vs.Environment:
    """``vapoursynth.get_current_environment()`` on behalf of the vsengine entry point `function`.

    With no policy registered, VapourSynth registers its standalone policy here, for the rest of the
    process; the call site is remembered so that a later :meth:`Policy.register` can say where that
    policy came from.
    """
    global _standalone_origin
    if vs.has_policy():
        return vs.get_current_environment()
    environment = vs.get_current_environment()  # VapourSynth registers its standalone policy here
    if _standalone_origin is None and _registered is None:
        _standalone_origin = f"{function} was called with no policy registered ({_user_call_site()})"
    return environment


def _user_call_site() -> str:
    """``file, line n`` of the innermost caller outside the vsengine package."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_package_dir):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}, line {frame.f_lineno}"


def _deref(stored: weakref.ReferenceType[vs.EnvironmentData] | None) -> vs.EnvironmentData | None:
    return None if stored is None else stored()


class EnvironmentStore:
    """Where a :class:`Policy` keeps the current environment.

    Subclass it to tie the current environment to something else (a Qt widget, a request, ...)
    and implement both methods. The policy hands the store a weak reference to VapourSynth's
    ``EnvironmentData`` (or ``None``) and expects it back unchanged. It is a plain class, not an
    :class:`abc.ABC`, so that it mixes with classes that have a metaclass of their own (``QObject``).
    """

    def set_current_environment(self, environment: weakref.ReferenceType[vs.EnvironmentData] | None) -> None:
        """Make ``environment`` the current one (``None``: no environment is current)."""
        raise NotImplementedError(f"{type(self).__name__} must implement set_current_environment().")

    def get_current_environment(self) -> weakref.ReferenceType[vs.EnvironmentData] | None:
        """Return what was last set with :meth:`set_current_environment`, or ``None``."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_current_environment().")


class GlobalStore(EnvironmentStore):
    """One current environment for the whole process. Fastest; not thread- or task-safe."""

    _current: weakref.ReferenceType[vs.EnvironmentData] | None

    def __init__(self) -> None:
        self._current = None

    def set_current_environment(self, environment: weakref.ReferenceType[vs.EnvironmentData] | None) -> None:
        self._current = environment

    def get_current_environment(self) -> weakref.ReferenceType[vs.EnvironmentData] | None:
        return self._current


class ThreadLocalStore(EnvironmentStore):
    """One current environment per thread."""

    def __init__(self) -> None:
        self._stored = threading.local()

    def set_current_environment(self, environment: weakref.ReferenceType[vs.EnvironmentData] | None) -> None:
        self._stored.environment = environment

    def get_current_environment(self) -> weakref.ReferenceType[vs.EnvironmentData] | None:
        env: weakref.ReferenceType[vs.EnvironmentData] | None = getattr(self._stored, "environment", None)
        return env


class ContextVarStore(EnvironmentStore):
    """One current environment per :mod:`contextvars` context: per asyncio task or trio task."""

    def __init__(self, name: str = "vsengine_environment") -> None:
        self._current: ContextVar[weakref.ReferenceType[vs.EnvironmentData] | None] = ContextVar(
            name, default=None
        )

    def set_current_environment(self, environment: weakref.ReferenceType[vs.EnvironmentData] | None) -> None:
        self._current.set(environment)

    def get_current_environment(self) -> weakref.ReferenceType[vs.EnvironmentData] | None:
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
        stored = self._store.get_current_environment()
        if stored is None:
            return None
        environment = stored()
        if environment is None or not self.is_alive(environment):
            # Disposed elsewhere (another thread or task still pointed at it). The disposing
            # thread resets its own store in ManagedEnvironment.dispose(); here we only clean up.
            self._store.set_current_environment(None)
            warnings.warn(
                "The current VapourSynth environment has been disposed; no environment is current any more.",
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
        # Called twice for every frame callback VapourSynth runs: kept free of extra calls.
        stored = self._store.get_current_environment()
        self._store.set_current_environment(None if environment is None else weakref.ref(environment))
        previous = None if stored is None else stored()
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
        environment = stack[-1] if stack else _deref(self._store.get_current_environment())
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
        if _deref(self._store.get_current_environment()) is environment:
            self._store.set_current_environment(None)


class Policy:
    """A VapourSynth environment policy backed by an :class:`EnvironmentStore`.

    Register it (``with Policy(store) as policy:`` or :meth:`register`) before creating
    environments with :meth:`new_environment`.

    Args:
        store: where the current environment is kept (default: a new :class:`GlobalStore`).
        flags_creation: the ``vapoursynth.CoreCreationFlags`` of new cores, unless
            :meth:`new_environment` is given its own.
        logger: where the log messages of new cores go, unless :meth:`new_environment` is told
            otherwise: ``False`` nowhere, ``True`` the ``logging`` logger ``"vapoursynth"``, or a
            function called with VapourSynth's message type (an int) and the message.
    """

    def __init__(
        self,
        store: EnvironmentStore | None = None,
        flags_creation: int | None = 0,
        logger: LogHandler = False,
    ) -> None:
        self._managed = _ManagedPolicy(GlobalStore() if store is None else _checked_store(store))
        self.flags_creation = _checked_flags("Policy(flags_creation=...)", flags_creation)
        #: The log handler of new environments (None: no logging).
        self._logger = _log_handler("Policy(logger=...)", logger)
        #: Environments created by this policy and not disposed yet (they die with its registration).
        self._environments: weakref.WeakSet[ManagedEnvironment] = weakref.WeakSet()

    @property
    def managed(self) -> _ManagedPolicy:
        """The ``vapoursynth.EnvironmentPolicy`` VapourSynth talks to (rarely needed directly)."""
        return self._managed

    @property
    def is_registered(self) -> bool:
        """Whether this policy is registered with VapourSynth right now."""
        return self._managed._api is not None

    def register(self) -> None:
        """Register this policy with VapourSynth (only one policy can be registered at a time).

        Raises:
            RuntimeError: a policy is registered already; the message says which one and what to do.
        """
        try:
            vs.register_policy(self._managed)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc} {_why_registered(self._managed)}") from exc

    def unregister(self) -> None:
        """Unregister the policy.

        VapourSynth destroys every environment of the policy with it: environments not disposed
        yet count as disposed from now on (using them raises ``RuntimeError``). Disposed
        environments whose release was still pending are released now; frames and nodes that still
        refer to them become invalid (VapourSynth raises a clear error on use). Ctrl+C during the
        teardown is held back until it is over.
        """
        api = self.api
        with sigint_deferred():
            live = [environment._policy_unregistered(api) for environment in list(self._environments)]
            self._environments.clear()
            release_queue.flush(self._managed, [entry for entry in live if entry is not None])
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
        if self._managed._api is None:
            raise RuntimeError(
                "This Policy is not registered; call register() or use it as a context manager."
            )
        return self._managed._api

    def new_environment(
        self, flags_creation: int | None = None, logger: LogHandler | None = None
    ) -> ManagedEnvironment:
        """Create a new environment with its own core.

        Args:
            flags_creation: ``vapoursynth.CoreCreationFlags`` for this core (default: the policy's).
            logger: where this core's log messages go (default: the policy's ``logger``); see
                :class:`Policy`.
        """
        api = self.api
        flags = (
            self.flags_creation
            if flags_creation is None
            else _checked_flags("new_environment(flags_creation=...)", flags_creation)
        )
        handler = self._logger if logger is None else _log_handler("new_environment(logger=...)", logger)
        release_queue.poll()
        data = api.create_environment(flags)
        if handler is not None:
            api.set_logger(data, handler)
        return ManagedEnvironment(api.wrap_environment(data), data, self)


def _why_registered(managed: _ManagedPolicy) -> str:
    """Which policy VapourSynth has registered instead of ``managed``, and what to do about it."""
    if _registered is managed:
        return "This Policy is registered already."
    if _registered is not None:
        return "It is another vsengine Policy: unregister that one first."
    if _standalone_origin is not None:
        since = _standalone_origin
    elif _policy_before_import:
        since = (
            "before vsengine was imported (unless this process runs under a program with a policy of "
            "its own, such as vspipe)"
        )
    else:
        since = (
            "something used vapoursynth.core (or asked VapourSynth for the current environment) "
            "while no policy was registered"
        )
    return (
        f"VapourSynth's standalone policy is active since {since}; it can never be unregistered. "
        "Register your Policy before anything uses VapourSynth, and pass an environment or the "
        "Policy to vsengine's functions instead of relying on the current environment, as in "
        "load_code(code, policy)."
    )


def _checked_store(store: object) -> EnvironmentStore:
    if isinstance(store, type):
        raise TypeError(
            f"Policy(store): store must be an EnvironmentStore instance, got the class {store.__name__}; "
            f"create one: Policy({store.__name__}())"
        )
    if not isinstance(store, EnvironmentStore) and not (
        callable(getattr(store, "get_current_environment", None))
        and callable(getattr(store, "set_current_environment", None))
    ):
        raise TypeError(
            f"Policy(store): store must be a vsengine.policy.EnvironmentStore (such as GlobalStore(), "
            f"ThreadLocalStore() or ContextVarStore()), got {type(store).__name__}"
        )
    return store  # type: ignore[return-value]  # duck-typed stores are welcome


def _checked_flags(where: str, flags: object) -> int:
    if flags is None:
        return 0
    if isinstance(flags, bool) or not isinstance(flags, int):
        raise TypeError(
            f"{where}: flags_creation must be an int made of vapoursynth.CoreCreationFlags "
            f"(e.g. vapoursynth.ENABLE_GRAPH_INSPECTION, or 0), got {type(flags).__name__}"
        )
    return flags


def _log_handler(where: str, logger: object) -> Callable[[int, str], None] | None:
    if logger is True:
        return _log_to_vapoursynth_logger
    if logger is False:
        return None
    if callable(logger):
        return logger
    raise TypeError(
        f"{where}: logger must be True (log to the 'vapoursynth' logger), False (no logging) or a "
        f"function taking the message type and the message, got {type(logger).__name__}"
    )


def _log_to_vapoursynth_logger(message_type: int, message: str) -> None:
    # stacklevel=2: the record names the Python code that logged (core.log_message) when there is one.
    _vs_logger.log(_LOG_LEVELS.get(message_type, logging.WARNING), message, stacklevel=2)


class ManagedEnvironment:
    """A VapourSynth environment (one core) of a :class:`Policy`, made by :meth:`Policy.new_environment`.

    Use it with :meth:`use`; dispose it with :meth:`dispose` or as a context manager. An
    environment that is garbage-collected without being disposed emits a ``ResourceWarning``.
    A subclass of :class:`Policy` may make its own: ``ManagedEnvironment(api.wrap_environment(data),
    data, policy)`` for ``data = policy.api.create_environment(...)``.
    """

    _data: vs.EnvironmentData | None

    def __init__(self, environment: vs.Environment, data: vs.EnvironmentData, policy: Policy) -> None:
        self._environment = environment
        self._data = data
        self._policy = policy
        self._lock = threading.Lock()
        self._number = next(_env_numbers)
        self._final_outputs: MappingProxyType[int, vs.VideoOutputTuple | vs.AudioNode] = MappingProxyType({})
        #: Why the environment is dead, for the error message (set by dispose or unregister).
        self._death = "has been disposed"
        #: References to the core right after creation (see vsengine._release).
        self._baseline: int | None = None
        if policy.is_registered:
            with policy.managed.inline(data):
                core = vs.core.core
                self._baseline = sys.getrefcount(core)
                del core
            policy._environments.add(self)

    def __repr__(self) -> str:
        state = "disposed" if self.disposed else "alive"
        return f"<{type(self).__name__} #{self._number} ({state})>"

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
        Ctrl+C during the release is held back until it is over.
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
        withdraw(data, f"its environment (#{self._number}) has been disposed")
        if api is None:
            # The policy is gone; VapourSynth has already destroyed every environment.
            return
        _logger.debug("Disposing %r.", self)
        with sigint_deferred():
            with contextlib.suppress(vs.Error, RuntimeError), managed.inline(data):
                self._final_outputs = MappingProxyType(dict(vs.get_outputs()))
                vs.clear_outputs()
            release_queue.submit(
                PendingRelease(data, api, managed, self._baseline, f"environment #{self._number}")
            )

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
        withdraw(data, f"its environment (#{self._number}) {self._death}")
        with contextlib.suppress(vs.Error, RuntimeError), managed.inline(data):
            self._final_outputs = MappingProxyType(dict(vs.get_outputs()))
        return PendingRelease(data, api, managed, self._baseline, f"environment #{self._number}")

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
