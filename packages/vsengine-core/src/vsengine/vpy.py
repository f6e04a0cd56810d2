"""Loading and running VapourSynth scripts (``.vpy`` files or code) in an environment.

``load_script(path, environment)`` returns a `Script`; nothing runs until you call
`Script.run` / `Script.result`, await the script or enter it as a context manager. While a script
runs it sees ``__file__``, finds its own module in ``sys.modules`` and has its directory first on
``sys.path``, like a program started with ``python script.py``; all three are restored
afterwards. Everything that goes wrong while a script runs (its own exceptions, a syntax error,
a disposed environment, a missing ``chdir`` directory) reaches you as `ExecutionError`, through the
script's future.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import os
import sys
import threading
import traceback
import types
from collections.abc import Buffer
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Concatenate, Self, overload

import vapoursynth as vs

from vsengine._calls import run_into
from vsengine.futures import UnifiedFuture
from vsengine.loops import get_loop
from vsengine.policy import ManagedEnvironment, Policy, current_environment

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

__all__ = [
    "DEFAULT_MODULE",
    "ExecutionError",
    "ExecutionFailed",
    "Script",
    "WrapAllErrors",
    "chdir_runner",
    "inline_runner",
    "load_code",
    "load_script",
]

#: The module name scripts run under unless told otherwise (the name vspipe uses too).
DEFAULT_MODULE = "__vapoursynth__"

#: What `load_script` and `load_code` accept as ``environment``.
type ScriptEnvironment = Policy | ManagedEnvironment | vs.Environment | Script[Any] | None

#: A runner (1.x): calls a function now or later and returns a future of its result.
type Runner[R] = Callable[[Callable[[], R]], Future[R]]


class ExecutionError(Exception):
    """A script raised an exception (or could not be compiled).

    ``str(error)`` names the script, the line and the original exception. The original exception
    is `parent_error` (also chained as ``__cause__``, so tracebacks show where the script failed)
    and its formatted traceback is `script_traceback`. Disposing the script drops the traceback
    frames, so a kept error does not keep the script's clips or core alive.
    """

    parent_error: BaseException
    script: str | None
    lineno: int | None
    script_traceback: str

    def __init__(
        self, parent_error: BaseException, script: str | None = None, *, filename: str | None = None
    ) -> None:
        """`script` names the script in the message; `filename` is the file name its code was
        compiled with (default: `script`), used to find the failing line."""
        self.parent_error = parent_error
        self.script = script
        self.lineno = _error_line(parent_error, filename if filename is not None else script)
        self.script_traceback = _format_script_traceback(parent_error)
        where = "script" if script is None else f"script {script}"
        if self.lineno is not None:
            where += f", line {self.lineno}"
        detail = str(parent_error)
        if isinstance(parent_error, SyntaxError):
            detail = parent_error.msg
        summary = type(parent_error).__name__ + (f": {detail}" if detail else "")
        super().__init__(f"{where}: {summary}")
        self.__cause__ = parent_error

    @staticmethod
    def extract_traceback(error: BaseException) -> str:
        """The formatted traceback of `error` (any exception), as ``traceback`` prints it.

        Frames of vsengine that started a script are left out.
        """
        return _format_script_traceback(error)

    def _drop_frames(self) -> None:
        """Forgets the traceback frames of the script's exception (and of the exceptions chained
        to it). Their local variables would keep the script's clips, and so its core, alive.

        The error's own traceback (the frames of whoever waited for the script) is left alone.
        """
        seen: set[int] = set()
        pending: list[BaseException | None] = [self.parent_error]
        while pending:
            exc = pending.pop()
            if exc is None or id(exc) in seen:
                continue
            seen.add(id(exc))
            exc.__traceback__ = None
            pending += [exc.__cause__, exc.__context__]
            pending += getattr(exc, "exceptions", ())  # exception groups


#: The 1.x name of `ExecutionError`.
ExecutionFailed = ExecutionError


class WrapAllErrors(contextlib.AbstractContextManager[None]):
    """A context manager that turns any exception raised in its block into an `ExecutionError`.

    An `ExecutionError` passes unchanged.
    """

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None and not isinstance(exc, ExecutionError):
            raise ExecutionError(exc) from exc


def inline_runner[R](func: Callable[[], R]) -> Future[R]:
    """Runs `func` now and returns a done future of its result or exception (1.x runner)."""
    future: Future[R] = Future()
    run_into(future, func)
    return future


def chdir_runner[**P, R](
    dir: str | os.PathLike[str],  # the 1.x name
    parent: Runner[R],
) -> Callable[Concatenate[Callable[P, R], P], Future[R]]:
    """Wraps the runner `parent`: functions run through it with `dir` as working directory (1.x).

    The previous working directory is restored after each function. The working directory belongs
    to the whole process: do not run two such functions at once.
    """

    def runner(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        def in_directory() -> R:
            with contextlib.chdir(dir):
                return func(*args, **kwargs)

        return parent(in_directory)

    return runner


def _format_script_traceback(error: BaseException) -> str:
    """The traceback of `error` without vsengine's own frames (where the script was started)."""
    if isinstance(error, SyntaxError):
        return "".join(traceback.format_exception_only(error))
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb))


def _error_line(error: BaseException, script: str | None) -> int | None:
    if isinstance(error, SyntaxError):
        return error.lineno
    line = None
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if script is None or frame.f_code.co_filename == script:
            line = lineno
    return line


#: `get_variable` without a default.
_NO_DEFAULT: Any = object()


class Script[EnvT: (vs.Environment, ManagedEnvironment)]:
    """A script loaded by `load_script` or `load_code`, bound to an environment and a module.

    Run it with `run` (a future), `result` (blocking), `run_async` or ``await script``;
    ``with script:`` runs it and disposes it at the end of the block. It runs at most once; running
    it again returns the same outcome. ``Script[ManagedEnvironment]`` is a script whose
    `environment` is a `ManagedEnvironment` (``Script[vapoursynth.Environment]``: a plain one).
    """

    environment: EnvT

    def __init__(
        self,
        code: Callable[[], types.CodeType],
        module: types.ModuleType,
        environment: EnvT,
        inline: bool,
        *,
        name: str,
        path: str | None = None,
        chdir: str | os.PathLike[str] | None = None,
        owns_module: bool = True,
    ) -> None:
        self._code = code
        self.module = module
        self.environment = environment
        self.inline = inline
        self.name = name
        self.path = path
        self._chdir = chdir
        self._owns_module = owns_module
        self._lock = threading.Lock()
        self._future: UnifiedFuture[None] | None = None
        self._error: ExecutionError | None = None
        self._disposed = False

    def __repr__(self) -> str:
        state = "disposed" if self._disposed else "loaded"
        return f"<Script {self.name} ({state})>"

    # -- running ----------------------------------------------------------------------------------

    def run(self) -> UnifiedFuture[None]:
        """Runs the script (once) and returns a future of its completion.

        With ``inline=True`` the script runs right here and the future is already done; otherwise
        it runs in a worker thread of the current event loop (`vsengine.loops.to_thread`).
        The future fails with `ExecutionError` if anything stops the script: an exception it
        raised (``KeyboardInterrupt`` and ``SystemExit`` included), a syntax error, or its
        environment or ``chdir`` directory being gone.
        """
        with self._lock:
            if self._disposed:
                raise RuntimeError(f"{self!r} has been disposed")
            if self._future is not None:
                return self._future
            self._future = future = UnifiedFuture[None]()
        if self.inline:
            self._settle(future)
            return future
        try:
            started = get_loop().to_thread(self._settle, future)
        except BaseException as exc:
            # The loop refused to start the worker: the script never ran.
            future.set_exception(exc)
        else:
            started.add_done_callback(lambda f: _forward_crash(f, future))
        return future

    def result(self) -> None:
        """Runs the script (once) and waits for it. Raises `ExecutionError` if it failed."""
        self.run().result()

    async def run_async(self) -> None:
        """Runs the script (once) and waits for it without blocking the event loop."""
        await self.run()

    def __await__(self) -> Generator[Any, None, None]:
        return self.run().__await__()

    def _settle(self, raw: Future[None]) -> None:
        error = self._execute()
        if error is None:
            raw.set_result(None)
        else:
            self._error = error
            # set_exception, not raise: the error carries no frame of ours.
            raw.set_exception(error)

    def _execute(self) -> ExecutionError | None:
        try:
            with self._environment_scope(), self._script_context():
                exec(self._code(), self.module.__dict__)
        except BaseException as exc:
            return ExecutionError(exc, self.name, filename=self.path or self.name)
        return None

    @contextlib.contextmanager
    def _environment_scope(self) -> Iterator[None]:
        with self.environment.use():
            yield

    @contextlib.contextmanager
    def _script_context(self) -> Iterator[None]:
        name = self.module.__name__
        missing = object()
        previous_module = sys.modules.get(name, missing)
        sys.modules[name] = self.module
        path_entry: str | None = None
        previous_argv = list(sys.argv)
        if self.path is not None:
            # A fresh string object: removed afterwards by identity, so an equal entry the
            # application had on sys.path stays.
            path_entry = os.path.dirname(self.path)
            sys.path.insert(0, path_entry)
            sys.argv[:1] = [self.path]
        previous_cwd = os.getcwd() if self._chdir is not None else None
        try:
            if self._chdir is not None:
                os.chdir(self._chdir)
            yield
        finally:
            if previous_cwd is not None:
                os.chdir(previous_cwd)
            if path_entry is not None:
                _remove_identical(sys.path, path_entry)
                sys.argv[:] = previous_argv
            if sys.modules.get(name) is self.module:
                if previous_module is missing:
                    del sys.modules[name]
                else:
                    sys.modules[name] = previous_module  # type: ignore[assignment]

    # -- results ----------------------------------------------------------------------------------

    @overload
    def get_variable(self, name: str) -> UnifiedFuture[Any]: ...
    @overload
    def get_variable[D](self, name: str, default: D) -> UnifiedFuture[Any | D]: ...
    def get_variable(self, name: str, default: Any = _NO_DEFAULT) -> UnifiedFuture[Any]:
        """A future of the script's global `name`, once the script has run (if it is running).

        Without `default` the future fails with ``AttributeError`` if the script has no such
        global; with it, it gives `default`. If the script fails, so does the future.
        """

        def lookup(_: object = None) -> Any:
            try:
                return getattr(self.module, name)
            except AttributeError:
                if default is not _NO_DEFAULT:
                    return default
                raise AttributeError(f"{self.name} has no global variable {name!r}", name=name) from None

        with self._lock:
            running = self._future if self._future is not None and not self._future.done() else None
        if running is not None:
            return running.map(lookup)
        try:
            return UnifiedFuture.resolve(lookup())
        except AttributeError as exc:
            return UnifiedFuture.reject(exc)

    # -- lifetime ---------------------------------------------------------------------------------

    def dispose(self) -> None:
        """Releases the script: its module globals, its error's frames and its environment.

        A `ManagedEnvironment` (one created from a `Policy` or passed in) is disposed; a plain
        ``vapoursynth.Environment`` is left alone. Idempotent.

        Raises:
            RuntimeError: the script is still running (in a worker thread); wait for it first.
        """
        with self._lock:
            if self._disposed:
                return
            if self._future is not None and not self._future.done():
                raise RuntimeError(f"{self!r} is still running; wait for it before disposing it")
            self._disposed = True
            error = self._error
        if error is not None:
            error._drop_frames()
        if self._owns_module:
            name = self.module.__name__
            self.module.__dict__.clear()
            self.module.__dict__["__name__"] = name
        if isinstance(self.environment, ManagedEnvironment):
            self.environment.dispose()

    @property
    def disposed(self) -> bool:
        """True once `dispose` has been called."""
        return self._disposed

    def __enter__(self) -> Self:
        try:
            self.result()
        except BaseException:
            self.dispose()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()


def _forward_crash(started: Future[None], raw: Future[None]) -> None:
    """If the worker could not even run `_settle` (e.g. the loop refused), fail the script."""
    if raw.done():
        return
    exc = started.exception() if not started.cancelled() else None
    with contextlib.suppress(Exception):
        if exc is None:
            raw.cancel()
        else:
            raw.set_exception(exc)


def _remove_identical(items: list[str], entry: str) -> None:
    for index, item in enumerate(items):
        if item is entry:
            del items[index]
            return


# -- loading ---------------------------------------------------------------------------------------


@overload
def load_script(
    script: str | os.PathLike[str],
    environment: Policy | ManagedEnvironment | Script[ManagedEnvironment],
    *,
    module: str | types.ModuleType = ...,
    inline: bool = ...,
    chdir: str | os.PathLike[str] | None = ...,
) -> Script[ManagedEnvironment]: ...
@overload
def load_script(
    script: str | os.PathLike[str],
    environment: vs.Environment | Script[vs.Environment] | None = ...,
    *,
    module: str | types.ModuleType = ...,
    inline: bool = ...,
    chdir: str | os.PathLike[str] | None = ...,
) -> Script[vs.Environment]: ...
def load_script(
    script: str | os.PathLike[str],
    environment: ScriptEnvironment = None,
    *,
    module: str | types.ModuleType = DEFAULT_MODULE,
    inline: bool = True,
    chdir: str | os.PathLike[str] | None = None,
) -> Script[Any]:
    """Loads the VapourSynth script at `script`; it runs when the returned `Script` is run.

    Args:
        environment: where the script runs: a `Policy` (a new environment is created; the
            script owns it), a `ManagedEnvironment`, a ``vapoursynth.Environment``, another
            `Script` (its environment and module are reused) or None (the current environment;
            with no policy registered that is VapourSynth's standalone environment).
        module: the module (or module name) whose globals the script runs in.
        inline: run in the calling thread (True) or in a worker thread of the event loop.
        chdir: working directory while the script runs (default: unchanged).

    Raises:
        FileNotFoundError: there is no file at `script`.
        TypeError: `environment` or `module` is of the wrong type.
    """
    path = os.path.abspath(os.fspath(script))
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "VapourSynth script not found", os.fspath(script))
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "VapourSynth script is a directory", os.fspath(script))

    def read() -> types.CodeType:
        with open(path, "rb") as f:
            source = f.read()
        return compile(source, path, "exec", dont_inherit=True)

    return _load(
        "vsengine.vpy.load_script()",
        read,
        environment,
        module,
        inline,
        chdir,
        name=os.fspath(script),
        path=path,
    )


#: What `load_code` runs: source code (text, bytes or any buffer), a parsed module or a code object.
type ScriptCode = str | Buffer | ast.Module | types.CodeType


@overload
def load_code(
    script: ScriptCode,
    environment: Policy | ManagedEnvironment | Script[ManagedEnvironment],
    *,
    module: str | types.ModuleType = ...,
    inline: bool = ...,
    chdir: str | os.PathLike[str] | None = ...,
    filename: str = ...,
) -> Script[ManagedEnvironment]: ...
@overload
def load_code(
    script: ScriptCode,
    environment: vs.Environment | Script[vs.Environment] | None = ...,
    *,
    module: str | types.ModuleType = ...,
    inline: bool = ...,
    chdir: str | os.PathLike[str] | None = ...,
    filename: str = ...,
) -> Script[vs.Environment]: ...
def load_code(
    script: ScriptCode,
    environment: ScriptEnvironment = None,
    *,
    module: str | types.ModuleType = DEFAULT_MODULE,
    inline: bool = True,
    chdir: str | os.PathLike[str] | None = None,
    filename: str = "<vapoursynth code>",
) -> Script[Any]:
    """Like `load_script`, for code instead of a file.

    `script` is source code (``str``, ``bytes`` or any other buffer such as a ``memoryview``; a
    buffer is copied at once), an ``ast.Module`` or a code object. `filename` names the code in
    tracebacks and error messages (a code object keeps its own).

    Raises:
        TypeError: `script`, `environment` or `module` is of the wrong type.
    """
    compiled: types.CodeType | None = None
    source: str | bytes | ast.Module
    if isinstance(script, types.CodeType):
        compiled = script
        filename = script.co_filename
    elif isinstance(script, str | bytes | ast.Module):
        source = script
    elif isinstance(script, Buffer):
        source = bytes(script)
    else:
        raise TypeError(
            "vsengine.vpy.load_code(): script must be source code (str, bytes or another buffer), an "
            f"ast.Module or a code object, got {type(script).__name__}"
        )

    def get() -> types.CodeType:
        if compiled is not None:
            return compiled
        return compile(source, filename, "exec", dont_inherit=True)

    return _load(
        "vsengine.vpy.load_code()", get, environment, module, inline, chdir, name=filename, path=None
    )


def _load(
    function: str,
    code: Callable[[], types.CodeType],
    environment: ScriptEnvironment,
    module: str | types.ModuleType,
    inline: bool,
    chdir: str | os.PathLike[str] | None,
    *,
    name: str,
    path: str | None,
) -> Script[Any]:
    if not isinstance(module, str | types.ModuleType):
        raise TypeError(
            f"{function}: module must be a module name (str) or a types.ModuleType, "
            f"got {type(module).__name__}"
        )
    owns_module = isinstance(module, str)
    env: ManagedEnvironment | vs.Environment
    if environment is None:
        try:
            env = current_environment(function)
        except RuntimeError as exc:
            raise RuntimeError(
                f"{function}: no VapourSynth environment is current; pass one (or a Policy) as environment"
            ) from exc
    elif isinstance(environment, Script):
        if environment.disposed:
            raise RuntimeError(f"cannot reuse {environment!r}: it has been disposed")
        env = environment.environment
        module = environment.module
        owns_module = environment._owns_module
    elif isinstance(environment, Policy):
        env = environment.new_environment()
    elif isinstance(environment, ManagedEnvironment | vs.Environment):
        env = environment
    else:
        raise TypeError(
            f"{function}: environment must be a Policy, ManagedEnvironment, vapoursynth.Environment, "
            f"Script or None, not {type(environment).__name__}"
        )
    if isinstance(module, str):
        module = types.ModuleType(module)
    # As a module imported from a file has them (a module that already has a file keeps it).
    if module.__dict__.get("__file__") is None:
        module.__file__ = path if path is not None else name
    module.__dict__.setdefault("__cached__", None)
    return Script(code, module, env, inline, name=name, path=path, chdir=chdir, owns_module=owns_module)
