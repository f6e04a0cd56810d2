"""What the previewer shows: a script's outputs (or the built-in test clip) in an environment of its own."""

from __future__ import annotations

import asyncio
import os
import sys
import types
from fractions import Fraction
from typing import TYPE_CHECKING

import vapoursynth as vs

from vsengine.vpy import DEFAULT_MODULE, Script, load_script
from vsengine_qt._audio import float_audio
from vsengine_qt._image import qimage_node
from vsengine_qt._testclip import builtin_clip

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vsengine.policy import ManagedEnvironment, Policy

__all__ = ["Source", "load_source", "local_modules", "script_files"]


class Source:
    """A loaded script: its environment, its outputs, and the one chosen to show (``output``).

    ``node`` and ``image_node`` are the chosen output's clip and the same clip converted for
    QImages; :meth:`select` chooses another video output. ``files`` are the script and the local
    modules it imported (what to watch for changes). :meth:`dispose` releases everything (the
    script's globals and the environment). Idempotent.
    """

    def __init__(
        self,
        name: str,
        environment: ManagedEnvironment,
        outputs: Mapping[int, vs.VideoNode | vs.AudioNode],
        output: int,
        script: Script[ManagedEnvironment] | None,
        files: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.environment = environment
        self.files = files
        self._outputs = dict(outputs)
        self._images: dict[int, vs.VideoNode] = {}
        self._audio: dict[int, vs.AudioNode] = {}
        self._script = script
        self._disposed = False
        self.output = -1
        self.select(output)

    @property
    def outputs(self) -> Mapping[int, vs.VideoNode | vs.AudioNode]:
        """Every output of the script by index: video outputs as their clip, audio as the node."""
        return types.MappingProxyType(self._outputs)

    @property
    def video_outputs(self) -> list[int]:
        return sorted(i for i, node in self._outputs.items() if isinstance(node, vs.VideoNode))

    @property
    def audio_outputs(self) -> list[int]:
        return sorted(i for i, node in self._outputs.items() if isinstance(node, vs.AudioNode))

    def video(self, index: int) -> vs.VideoNode:
        """The clip of video output ``index`` (LookupError or TypeError naming the problem)."""
        node = self._outputs.get(index)
        if node is None:
            available = ", ".join(str(i) for i in sorted(self._outputs)) or "none"
            raise LookupError(f"{self.name} has no output {index} (its outputs: {available})")
        if isinstance(node, vs.AudioNode):
            raise TypeError(f"output {index} of {self.name} is audio: the previewer shows video outputs only")
        return node

    def image_node_of(self, index: int) -> vs.VideoNode:
        """Video output ``index`` converted for QImages (made once per output)."""
        image = self._images.get(index)
        if image is None:
            node = self.video(index)
            with self.environment.use():
                image = self._images[index] = qimage_node(node)
        return image

    def compare_image_node(self, index: int) -> vs.VideoNode:
        """Video output ``index`` converted for QImages with exactly as many frames as the chosen
        output (cut, or its last frame repeated): it is delivered in step with it, frame by frame."""
        image = self.image_node_of(index)
        length = self.num_frames
        if image.num_frames == length:
            return image
        with self.environment.use():
            if image.num_frames > length:
                return image[:length]
            return image + image[-1] * (length - image.num_frames)

    def audio_node(self, index: int) -> vs.AudioNode:
        """Audio output ``index`` as 32-bit float samples (made once per output)."""
        node = self._outputs.get(index)
        if not isinstance(node, vs.AudioNode):
            raise TypeError(f"output {index} of {self.name} is not audio")
        converted = self._audio.get(index)
        if converted is None:
            with self.environment.use():
                converted = self._audio[index] = float_audio(node)
        return converted

    def select(self, index: int) -> None:
        """Make video output ``index`` the one :attr:`node` and :attr:`image_node` stand for."""
        self.node = self.video(index)
        self.image_node = self.image_node_of(index)
        self.output = index

    @property
    def num_frames(self) -> int:
        return self.node.num_frames

    @property
    def fps(self) -> Fraction:
        """The clip's frame rate (24000/1001 when the clip has a variable one)."""
        if self.node.fps_num and self.node.fps_den:
            return Fraction(self.node.fps_num, self.node.fps_den)
        return Fraction(24000, 1001)

    @property
    def disposed(self) -> bool:
        return self.environment.disposed

    def dispose(self) -> None:
        if self._disposed:
            return
        self._disposed = True
        # Drop our references to the nodes first: nothing of the old core stays reachable from us.
        del self.node, self.image_node
        self._outputs.clear()
        self._images.clear()
        self._audio.clear()
        script, self._script = self._script, None
        try:
            _dispose_script(script)
        finally:
            self.environment.dispose()

    def __repr__(self) -> str:
        return f"<Source {self.name}{' (disposed)' if self.disposed else ''}>"


def _dispose_script(script: Script[ManagedEnvironment] | None) -> None:
    if script is None:
        return
    try:
        script.dispose()  # drops the frames of its error and disposes the environment
    finally:
        script.module.__dict__.clear()


def _dispose_all(script: Script[ManagedEnvironment] | None, environment: ManagedEnvironment) -> None:
    try:
        _dispose_script(script)
    finally:
        environment.dispose()


def local_modules(directory: str) -> dict[str, str]:
    """The imported modules whose file lies under ``directory`` (not in an installed package):
    ``{module name: file}``."""
    directory = os.path.join(os.path.realpath(directory), "")
    found: dict[str, str] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str):
            continue
        real = os.path.realpath(file)
        if real.startswith(directory) and "site-packages" not in real:
            found[name] = real
    return found


def script_files(script: str | os.PathLike[str]) -> tuple[str, ...]:
    """The script's file and the files of the local modules imported so far (see
    :func:`local_modules`): what the previewer watches for changes."""
    path = os.path.realpath(script)
    modules = local_modules(os.path.dirname(path))
    modules.pop(DEFAULT_MODULE, None)
    return (path, *sorted(set(modules.values()) - {path}))


def _outputs(environment: ManagedEnvironment) -> dict[int, vs.VideoNode | vs.AudioNode]:
    return {
        index: out if isinstance(out, vs.AudioNode) else out.clip
        for index, out in environment.outputs.items()
    }


async def load_source(
    policy: Policy,
    script: str | os.PathLike[str] | None,
    output: int = 0,
    *,
    args: Mapping[str, str] | None = None,
) -> Source:
    """Run ``script`` (in a worker thread) in a new environment and choose its output ``output``.

    Without a script the built-in test clip is used. ``args`` become global variables of the script
    before it runs (what ``vspipe --arg name=value`` does). Local modules the script imports (files
    under its directory) are imported afresh each time, so a changed module takes effect. On failure
    the new environment is disposed and the error propagates: :class:`vsengine.vpy.ExecutionError`
    for an error in the script, ``LookupError`` for a missing output, ``TypeError`` for an audio output.
    """
    environment = policy.new_environment()
    loaded: Script[ManagedEnvironment] | None = None
    handed_off = False
    files: tuple[str, ...] = ()
    try:
        if script is None:
            name = "the built-in test clip"
            with environment.use():
                builtin_clip().set_output(0)
        else:
            name = os.fspath(script)
            directory = os.path.dirname(os.path.abspath(name))
            for stale in local_modules(directory):  # run the script's own modules afresh
                sys.modules.pop(stale, None)
            # Our own module object: the script's globals are ours to clear when the source goes away.
            module = types.ModuleType(DEFAULT_MODULE)
            module.__dict__.update(args or {})
            loaded = load_script(script, environment, module=module, inline=False)
            try:
                # Shielded: awaiting the script's future directly would cancel it when we are
                # cancelled, and its done-callbacks (the disposal below) would run at once, while
                # the script still runs in the environment.
                await asyncio.shield(asyncio.wrap_future(loaded.run()))
            except asyncio.CancelledError:
                # The script keeps running in its worker thread: dispose of it when it is done,
                # not under its feet.
                handed_off = True
                abandoned = loaded
                abandoned.run().add_done_callback(lambda _: _dispose_all(abandoned, environment))
                raise
            files = script_files(name)
        source = Source(name, environment, _outputs(environment), output, loaded, files)
    except BaseException:
        if not handed_off:
            _dispose_all(loaded, environment)
        raise
    return source
