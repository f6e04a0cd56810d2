"""Getting frames out of video nodes: single frames, plane data, ordered iteration and rendering.

Every function works in the environment passed as `env` (a `ManagedEnvironment` or a
`vapoursynth.Environment`) or, when `env` is None, in the environment active when it is called.
Frames are requested with ``VideoNode.get_frame_async``; nothing blocks the calling thread.
The futures resolve on VapourSynth's threads; awaiting them (``await fut``, ``async for``) goes
through the event loop set with `vsengine.loops.set_loop`, so coroutines resume on their own loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from concurrent.futures import Future, InvalidStateError
from time import monotonic
from typing import TYPE_CHECKING, Any

import vapoursynth as vs

from vsengine._admission import admit
from vsengine._compat import keep_thread_state
from vsengine._envscope import EnvironmentTypes, capture_environment, environment_data, use_environment
from vsengine._readahead import read_ahead
from vsengine._release import FrameActivity, activity_of
from vsengine._y4m import FRAME_HEADER, y4m_header
from vsengine.futures import UnifiedFuture, UnifiedIterator

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

__all__ = ["frame", "frames", "planes", "render"]


def frame(
    node: vs.VideoNode, frameno: int, env: EnvironmentTypes | None = None
) -> UnifiedFuture[vs.VideoFrame]:
    """Requests frame `frameno` of `node`.

    Returns a future of the frame; it can be awaited, waited on with ``.result()`` or used as a
    context manager (which closes the frame at the end of the block).

    Raises:
        TypeError: `node` is not a video node (e.g. an audio node).
        IndexError: `frameno` is outside ``0 .. len(node) - 1``.
        RuntimeError: no environment is given and none is active.
    """
    _check_node("frame", node)
    _check_frameno(node, frameno)
    environment = capture_environment("vsengine.video.frame", env)
    fut: UnifiedFuture[vs.VideoFrame] = UnifiedFuture()
    _admit(_FrameRequest("frame", node, frameno, environment, None, fut, _activity(environment)))
    return fut


def planes(
    node: vs.VideoNode,
    frameno: int,
    env: EnvironmentTypes | None = None,
    *,
    planes: Iterable[int] | None = None,
) -> UnifiedFuture[tuple[bytes, ...]]:
    """Requests frame `frameno` of `node` and returns the data of its planes, tightly packed.

    `planes` selects which planes (by index) and in which order; all of them by default. The
    frame is closed once the bytes are copied out.

    Raises:
        TypeError: `planes` is not an iterable of ints (a str, a single int, a float in it).
        IndexError: `planes` names a plane the clip's format does not have.
    """
    _check_node("planes", node)
    _check_frameno(node, frameno)
    selected = None if planes is None else _plane_indices(planes)
    if selected is not None and node.format is not None and node.format.num_planes:
        _check_planes(selected, node.format.num_planes)
    environment = capture_environment("vsengine.video.planes", env)

    def extract(f: vs.VideoFrame) -> tuple[bytes, ...]:
        indices = range(f.format.num_planes) if selected is None else selected
        _check_planes(indices, f.format.num_planes)
        return tuple(_plane_bytes(f, p) for p in indices)

    fut: UnifiedFuture[tuple[bytes, ...]] = UnifiedFuture()
    _admit(_FrameRequest("planes", node, frameno, environment, extract, fut, _activity(environment)))
    return fut


def frames(
    node: vs.VideoNode,
    env: EnvironmentTypes | None = None,
    *,
    prefetch: int | None = None,
    backlog: int | None = None,
    close: bool = True,
) -> UnifiedIterator[vs.VideoFrame]:
    """Iterates over every frame of `node`, in order, requesting frames ahead of the consumer.

    Args:
        prefetch: how many frame requests may run at once; None or 0 means the number of threads
            of the core.
        backlog: how many frames may be requested or finished ahead of the consumer; None means
            three times `prefetch`, anything below `prefetch` means `prefetch`.
        close: close each frame when the consumer moves on to the next one (and every frame the
            consumer never took when iteration stops early), so frame memory is released at once.
            Pass False to keep frames after the loop body (then close them yourself).

    Works with ``for`` (blocking) and ``async for`` (through the current event loop).

    Raises:
        TypeError: `node` is not a video node, `prefetch` is neither an int nor None or `backlog`
            is neither an int nor None.
        ValueError: `prefetch` is negative.
    """
    _check_node("frames", node)
    _check_read_ahead("frames", prefetch, backlog)
    environment = capture_environment("vsengine.video.frames", env)
    window, limit = _window(environment, prefetch, backlog)
    activity = _activity(environment)
    futures: Generator[Future[vs.VideoFrame]] = read_ahead(
        node.num_frames,
        lambda n: _request(node, n, environment, None, Future(), activity),
        prefetch=window,
        backlog=limit,
        discard=_close_frame,
        slot_factory=UnifiedFuture,
    )
    return UnifiedIterator(_close_after_use(futures) if close else futures)


def render(
    node: vs.VideoNode,
    env: EnvironmentTypes | None = None,
    *,
    prefetch: int | None = None,
    backlog: int | None = 0,
    y4m: bool = False,
) -> UnifiedIterator[tuple[int, bytes]]:
    """Renders `node` to raw bytes, in order: one ``(number, data)`` pair per frame.

    `number` counts from 1: frame ``n`` of `node` comes as ``(n + 1, data)``, where `data` is its
    planes, tightly packed one after the other. With ``y4m=True`` the output is a YUV4MPEG2
    stream, byte for byte what ``vspipe -c y4m`` writes: the stream header comes first as
    ``(0, header)`` and every frame's data starts with ``FRAME\\n``. Writing the data of every
    pair in order to a file gives a valid ``.y4m`` (or raw) file.

    `prefetch` and `backlog` bound the read-ahead as in `frames`; the default backlog keeps it
    at `prefetch`. Frame data is copied out on VapourSynth's threads and frames are closed at
    once.

    Raises:
        TypeError: `prefetch` or `backlog` is neither an int nor None.
        ValueError: `prefetch` is negative.
        ValueError: ``y4m=True`` and the clip cannot be written as Y4M: float samples, RGB,
            variable format or variable size.
    """
    _check_node("render", node)
    _check_read_ahead("render", prefetch, backlog)
    header = y4m_header(node) if y4m else None
    environment = capture_environment("vsengine.video.render", env)
    window, limit = _window(environment, prefetch, backlog)

    activity = _activity(environment)
    # A constant format is looked up once, not for every frame (0: ask each frame).
    num_planes = node.format.num_planes if node.format is not None and node.format.id != 0 else 0

    def request(n: int) -> Future[tuple[int, bytes]]:
        return _request(
            node, n, environment, lambda f: (n + 1, _frame_bytes(f, y4m, num_planes)), Future(), activity
        )

    def chunks() -> Generator[Future[tuple[int, bytes]]]:
        if header is not None:
            yield UnifiedFuture.resolve((0, header))
        yield from read_ahead(
            node.num_frames, request, prefetch=window, backlog=limit, slot_factory=UnifiedFuture
        )

    return UnifiedIterator(chunks())


# -- helpers ---------------------------------------------------------------------------------------


def _check_node(function: str, node: object) -> None:
    if isinstance(node, vs.VideoNode):
        return
    if isinstance(node, vs.AudioNode):
        raise TypeError(
            f"vsengine.video.{function}() needs a video node, got an audio node "
            f"({node.num_samples} samples); render audio with AudioNode.frames() instead"
        )
    raise TypeError(f"vsengine.video.{function}() needs a vapoursynth.VideoNode, got {type(node).__name__}")


def _check_frameno(node: vs.VideoNode, frameno: int) -> None:
    if isinstance(frameno, bool) or not isinstance(frameno, int):
        raise TypeError(f"frame number must be an int, got {type(frameno).__name__}")
    count = node.num_frames
    if not 0 <= frameno < count:
        raise IndexError(
            f"frame {frameno} is out of range: the clip has {count} frames (valid: 0 to {count - 1})"
        )


def _plane_indices(planes: object) -> tuple[int, ...]:
    """`planes` as a tuple of plane indices, or a TypeError that says what was wrong with it."""
    if isinstance(planes, str | bytes) or not isinstance(planes, Iterable):
        raise TypeError(
            f"vsengine.video.planes(): planes must be an iterable of plane indices such as [0] or "
            f"(0, 1, 2), got {type(planes).__name__} {planes!r}"
        )
    selected = tuple(planes)
    for p in selected:
        if isinstance(p, bool) or not isinstance(p, int):
            raise TypeError(
                f"vsengine.video.planes(): plane indices must be ints, got {type(p).__name__} {p!r}"
            )
    return selected


def _check_planes(selected: Iterable[int], num_planes: int) -> None:
    for p in selected:
        if not 0 <= p < num_planes:
            raise IndexError(f"plane {p} is out of range: the frame has {num_planes} planes")


def _check_read_ahead(function: str, prefetch: object, backlog: object) -> None:
    """Rejects a `prefetch` or `backlog` of the wrong type or value before anything is requested."""
    if prefetch is not None and (isinstance(prefetch, bool) or not isinstance(prefetch, int)):
        raise TypeError(
            f"vsengine.video.{function}(): prefetch must be an int or None, got {type(prefetch).__name__}"
        )
    if prefetch is not None and prefetch < 0:
        raise ValueError(
            f"vsengine.video.{function}(): prefetch must be at least 0 (None or 0: the core's thread "
            f"count), got {prefetch}"
        )
    if backlog is not None and (isinstance(backlog, bool) or not isinstance(backlog, int)):
        raise TypeError(
            f"vsengine.video.{function}(): backlog must be an int or None, got {type(backlog).__name__}"
        )


def _window(env: EnvironmentTypes, prefetch: int | None, backlog: int | None) -> tuple[int, int]:
    if not prefetch:
        prefetch = _num_threads(env)
    if backlog is None:
        backlog = prefetch * 3
    return prefetch, max(backlog, prefetch)


class _FrameRequest[R]:
    """One ``get_frame_async`` call and the future it settles with ``convert(frame)`` or the frame.

    ``convert`` runs on a VapourSynth thread and the frame is closed after it.
    """

    __slots__ = ("activity", "convert", "env", "function", "fut", "n", "node", "release")

    def __init__(
        self,
        function: str,
        node: vs.VideoNode,
        n: int,
        env: EnvironmentTypes,
        convert: Callable[[vs.VideoFrame], R] | None,
        fut: Future[Any],
        activity: FrameActivity,
    ) -> None:
        self.function = function
        self.node = node
        self.n = n
        self.env = env
        self.convert = convert
        self.fut = fut
        self.activity = activity
        #: Given by the admission: called once VapourSynth has answered.
        self.release: Callable[[], None] | None = None

    def request(self) -> None:
        """Ask VapourSynth for the frame (errors raise to the caller)."""
        with use_environment(self.env):
            self.node.get_frame_async(self.n, self.done)

    # -- as an admitted request (vsengine._admission.Request) --

    def start(self, release: Callable[[], None]) -> bool:
        self.release = release
        try:
            self.request()
        except BaseException as exc:
            self.release = None
            with contextlib.suppress(InvalidStateError):
                self.fut.set_exception(exc)
            return False
        return True

    def skip(self) -> bool:
        return self.fut.done()

    def fail(self, reason: str) -> None:
        error = RuntimeError(
            f"vsengine.video.{self.function}(): frame {self.n} was withdrawn before VapourSynth "
            f"started rendering it: {reason}"
        )
        with contextlib.suppress(InvalidStateError):
            self.fut.set_exception(error)

    def done(self, f: vs.VideoFrame | None, error: Exception | None) -> None:
        # Runs on a VapourSynth thread. Never let an exception escape: it would be lost there.
        keep_thread_state()  # one Python thread state per worker thread, not one per callback
        self.activity.last = monotonic()  # see vsengine._release.FrameActivity
        release = self.release
        if release is not None:
            self.release = None
            release()
        fut = self.fut
        if fut.cancelled():
            if f is not None:
                f.close()
            return
        try:
            if error is not None:
                fut.set_exception(error)
                return
            assert f is not None
            if self.convert is None:
                value: object = f
            else:
                try:
                    value = self.convert(f)
                finally:
                    f.close()
            fut.set_result(value)
        except InvalidStateError:
            # Cancelled while the frame was on its way.
            if f is not None and self.convert is None:
                f.close()
        except BaseException as exc:
            try:
                fut.set_exception(exc)
            except InvalidStateError:
                pass


def _admit(request: _FrameRequest[Any]) -> None:
    """Start `request` through its environment's admission (see :mod:`vsengine._admission`)."""
    env = request.env
    data = environment_data(env)
    if data is None:
        raise RuntimeError(f"vsengine.video.{request.function}(): the environment has been disposed")
    admit(data, request, lambda: _num_threads(env))


def _activity(env: EnvironmentTypes) -> FrameActivity:
    """The `FrameActivity` the requests of one call record."""
    data = environment_data(env)
    return FrameActivity() if data is None else activity_of(data)  # None: gone, nothing to record


def _num_threads(env: EnvironmentTypes) -> int:
    with use_environment(env):
        return vs.core.num_threads


def _request[R, F: Future[Any]](
    node: vs.VideoNode,
    n: int,
    env: EnvironmentTypes,
    convert: Callable[[vs.VideoFrame], R] | None,
    fut: F,
    activity: FrameActivity,
) -> F:
    """Requests frame `n` at once (for the read-ahead paths, which bound their own requests)."""
    _FrameRequest("", node, n, env, convert, fut, activity).request()
    return fut


def _plane_bytes(f: vs.VideoFrame, plane: int) -> bytes:
    view = memoryview(f[plane])
    return view.tobytes()


def _frame_bytes(f: vs.VideoFrame, y4m: bool, num_planes: int = 0) -> bytes:
    parts: list[bytes | memoryview] = [FRAME_HEADER] if y4m else []
    for p in range(num_planes or f.format.num_planes):
        view = memoryview(f[p])
        # Packed planes can be joined without an intermediate copy.
        parts.append(view.cast("B") if view.c_contiguous else view.tobytes())
    return b"".join(parts)


def _close_frame(f: vs.VideoFrame) -> None:
    f.close()


def _close_when_done(fut: Future[vs.VideoFrame]) -> None:
    def close(done: Future[vs.VideoFrame]) -> None:
        if not done.cancelled() and done.exception() is None:
            done.result().close()

    # The plain Future method on purpose: this also runs when the garbage collector finalizes an
    # abandoned iterator, possibly inside VapourSynth, where asking VapourSynth for the current
    # environment (as UnifiedFuture.add_done_callback does) would deadlock.
    Future.add_done_callback(fut, close)


def _close_after_use(futures: Generator[Future[vs.VideoFrame]]) -> Generator[Future[vs.VideoFrame]]:
    """Closes each frame once the consumer asks for the next one (or stops)."""
    previous: Future[vs.VideoFrame] | None = None
    try:
        for fut in futures:
            if previous is not None:
                _close_when_done(previous)
            previous = fut
            yield fut
    finally:
        if previous is not None:
            _close_when_done(previous)
        futures.close()
