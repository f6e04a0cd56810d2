"""What the previewer shows: a script's output (or the built-in test clip) in an environment of its own."""

from __future__ import annotations

import asyncio
import os
import types
from fractions import Fraction
from typing import TYPE_CHECKING

import vapoursynth as vs

from vsengine.vpy import DEFAULT_MODULE, Script, load_script
from vsengine_qt._image import qimage_node
from vsengine_qt._testclip import builtin_clip

if TYPE_CHECKING:
    from vsengine.policy import ManagedEnvironment, Policy

__all__ = ["Source", "load_source"]


class Source:
    """A loaded clip: its environment, the output node and the node converted for QImages.

    :meth:`dispose` releases everything (the script's globals and the environment). Idempotent.
    """

    def __init__(
        self,
        name: str,
        environment: ManagedEnvironment,
        node: vs.VideoNode,
        image_node: vs.VideoNode,
        script: Script | None,
    ) -> None:
        self.name = name
        self.environment = environment
        self.node = node
        self.image_node = image_node
        self._script = script
        self._disposed = False

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
        script, self._script = self._script, None
        try:
            _dispose_script(script)
        finally:
            self.environment.dispose()

    def __repr__(self) -> str:
        return f"<Source {self.name}{' (disposed)' if self.disposed else ''}>"


def _dispose_script(script: Script | None) -> None:
    if script is None:
        return
    try:
        script.dispose()  # drops the frames of its error and disposes the environment
    finally:
        script.module.__dict__.clear()


def _dispose_all(script: Script | None, environment: ManagedEnvironment) -> None:
    try:
        _dispose_script(script)
    finally:
        environment.dispose()


def _output_node(environment: ManagedEnvironment, output: int, name: str) -> vs.VideoNode:
    outputs = environment.outputs
    if output not in outputs:
        available = ", ".join(str(i) for i in sorted(outputs)) or "none"
        raise LookupError(f"{name} has no output {output} (its outputs: {available})")
    out = outputs[output]
    if isinstance(out, vs.AudioNode):
        raise TypeError(f"output {output} of {name} is audio: the previewer shows video outputs only")
    return out.clip


async def load_source(policy: Policy, script: str | os.PathLike[str] | None, output: int = 0) -> Source:
    """Run ``script`` (in a worker thread) in a new environment and take its output ``output``.

    Without a script the built-in test clip is used. On failure the new environment is disposed and
    the error propagates: :class:`vsengine.vpy.ExecutionError` for an error in the script,
    ``LookupError`` for a missing output, ``TypeError`` for an audio output.
    """
    environment = policy.new_environment()
    loaded: Script | None = None
    handed_off = False
    try:
        if script is None:
            name = "the built-in test clip"
            with environment.use():
                builtin_clip().set_output(0)
        else:
            name = os.fspath(script)
            # Our own module object: the script's globals are ours to clear when the source goes away.
            module = types.ModuleType(DEFAULT_MODULE)
            loaded = load_script(script, environment, module=module, inline=False)
            try:
                await loaded
            except asyncio.CancelledError:
                # The script keeps running in its worker thread: dispose of it when it is done,
                # not under its feet.
                handed_off = True
                abandoned = loaded
                abandoned.run().add_done_callback(lambda _: _dispose_all(abandoned, environment))
                raise
        node = _output_node(environment, output, name)
        with environment.use():
            image = qimage_node(node)
    except BaseException:
        if not handed_off:
            _dispose_all(loaded, environment)
        raise
    return Source(name, environment, node, image, loaded)
