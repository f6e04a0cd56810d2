"""vs-preview 0.20.1 on vsengine_qt: the patch, applied at run time by ``drive_vspreview.py --port``.

docs/vsengine-qt/porting.md shows it hunk by hunk. Two files change:

- ``vspreview/core/vsenv.py``: the loop. vs-preview's ``PyQTLoop`` (a signal per call, a
  ``QThreadPool`` runnable per worker call) gives way to ``vsengine_qt.QtEventLoop``.
- ``vspreview/toolbars/playback/toolbar.py``: playback. vs-preview keeps a deque of
  ``get_frame_async`` futures (clip and alpha interleaved) and a ``QTimer`` at ``1000 / fps`` ms
  whose slot blocks on ``.result()``; a ``FrameStream`` of ``[clip]`` or ``[clip, alpha]`` now
  renders ahead and delivers each bundle when it is due (``play()``, or ``seek()`` for "unlimited"),
  without blocking. The stream takes the timer's place in ``play_timer``, so the seven places that
  ask ``play_timer.isActive()`` stay as they are.
"""

from __future__ import annotations

from porting import Hunk, calls, defines, is_import, mentions

VSENV = "core/vsenv.py"
TOOLBAR = "toolbars/playback/toolbar.py"

HUNKS = [
    # -- the loop ----------------------------------------------------------------------------------
    Hunk(
        VSENV,
        "",
        "from vsengine_qt import QtEventLoop\n",
        "import QtEventLoop",
        where=is_import,
        nth=-1,
        nested=False,
        position="after",
    ),
    Hunk(
        VSENV,
        "",
        "",
        "class Runner and class PyQTLoop: replaced by QtEventLoop",
        where=defines("Runner", "PyQTLoop"),
    ),
    Hunk(
        VSENV,
        "set_vsengine_loop",
        "set_loop(QtEventLoop())\n",
        "set_vsengine_loop: QtEventLoop (it starts qtinter's guest loop, and owns it)",
        where=mentions("PyQTLoop"),
    ),
    # -- playback ----------------------------------------------------------------------------------
    Hunk(
        TOOLBAR,
        "",
        "from vsengine_qt import FrameStream\n",
        "import FrameStream",
        where=is_import,
        nth=-1,
        nested=False,
        position="after",
    ),
    Hunk(
        TOOLBAR,
        "PlaybackToolbar",
        '''
        class _Playback(FrameStream):
            """The playing stream, in ``play_timer``: active (``isActive()``) until stopped, as the timer."""

            active = True

            def isActive(self) -> bool:
                return self.active

            def stop(self) -> None:
                self.active = False
                super().stop()


        ''',
        "class _Playback: a FrameStream that answers play_timer.isActive()",
        position="before",
    ),
    Hunk(
        TOOLBAR,
        "PlaybackToolbar.allocate_buffer",
        "",
        "allocate_buffer: no buffer to size (the stream's prefetch)",
    ),
    Hunk(
        TOOLBAR,
        "PlaybackToolbar.play",
        """
        prepared = self.main.current_output.prepared
        nodes = [prepared.clip] if prepared.alpha is None else [prepared.clip, prepared.alpha]
        self.play_timer = _Playback(nodes)
        self.play_timer.frameReady.connect(self._show_next_frame)
        self.play_timer.finished.connect(self.stop, Qt.ConnectionType.QueuedConnection)
        self.play_timer.frameFailed.connect(lambda n, error: self.stop())
        self.play_timer.frameFailed.connect(lambda n, error: self.main.handle_error(error))
        start = int(self.main.current_output.last_showed_frame) + 1
        """,
        "play: a stream of [clip] or [clip, alpha] instead of filling the deque with futures",
        where=mentions("play_buffer"),
    ),
    Hunk(
        TOOLBAR,
        "PlaybackToolbar.play",
        "self.play_timer.seek(start, int(self.last_frame) + 1)\n",
        "play, unlimited fps: seek() delivers as fast as frames come (was a 0 ms timer)",
        where=calls("self.play_timer.start"),
        nth=0,
    ),
    Hunk(
        TOOLBAR,
        "PlaybackToolbar.play",
        """
        variable = self.fps_variable_checkbox.isChecked()
        self.play_timer.play(start, int(self.last_frame) + 1, fps=0 if variable else fps)
        """,
        "play: play() at the fps, or each frame's _DurationNum/_DurationDen (was a 1000/fps ms timer)",
        where=calls("self.play_timer.start"),
        nth=1,
    ),
    Hunk(
        TOOLBAR,
        "PlaybackToolbar._show_next_frame",
        """
        def _show_next_frame(self, n: int, frames: tuple[vs.VideoFrame, ...], seconds: float) -> None:
            if self.fps_variable_checkbox.isChecked():
                self.current_fps = float(self.get_true_fps(n, frames[0].props))
                self.fps_spinbox.setValue(self.current_fps)
            elif not self.got_debug_fps:
                self.update_fps_counter()

            self.main.switch_frame(Frame(n), render_frame=frames)
        """,
        "_show_next_frame: frameReady's slot, given the frames (was the timer's slot: .result() on futures)",
    ),
    Hunk(
        TOOLBAR,
        "PlaybackToolbar.stop",
        "",
        "stop: no futures to let go of (play_timer.stop() stops the stream)",
        where=mentions("play_buffer"),
    ),
]
