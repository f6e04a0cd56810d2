"""The previewer window: a script's outputs, navigation and playback, inspection, compare and snapshots.

The parts live in their own modules: the frame widget (:mod:`._view`: zoom, pan, wipe, the pixel
under the cursor), times (:mod:`._timeline`), what is shown about frames (:mod:`._inspect`,
:mod:`._panels`), the shortcut table (:mod:`._help`), snapshots (:mod:`._snapshot`), watching files
(:mod:`._watch`), the state kept between runs (:mod:`._settings`) and audio (:mod:`._audio`, the
controls in :mod:`._panels`). This module puts them together.
"""

from __future__ import annotations

import asyncio
import traceback
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import vapoursynth as vs

from vsengine.vpy import ExecutionError
from vsengine_qt._audio import AudioClock, AudioPlayer, AudioUnavailable
from vsengine_qt._frames import FrameIterator, FrameStream
from vsengine_qt._help import SHORTCUTS, ShortcutHelp
from vsengine_qt._image import frame_to_qimage
from vsengine_qt._inspect import clip_info, format_props, format_value, pixel_value
from vsengine_qt._panels import AudioControls, InfoPanel
from vsengine_qt._qt import QtCore, QtGui, QtWidgets, Signal, mouse_position
from vsengine_qt._settings import ScriptState, StateFile
from vsengine_qt._snapshot import copy_snapshot, save_snapshot, snapshot_name
from vsengine_qt._source import Source, load_source, script_files
from vsengine_qt._timeline import SPEEDS, Timeline, parse_position
from vsengine_qt._view import FrameView
from vsengine_qt._watch import ScriptWatcher

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Mapping

    from vsengine.policy import Policy
    from vsengine_qt._pacing import Policy as PlaybackPolicy

__all__ = ["FrameView", "PreviewWindow", "describe_error"]

_Align = QtCore.Qt.AlignmentFlag
_QAction: Any = getattr(QtGui, "QAction", None) or getattr(QtWidgets, "QAction")  # noqa: B009 (Qt 6: QtGui; Qt 5: QtWidgets)
_NoFocus = QtCore.Qt.FocusPolicy.NoFocus

#: Playback modes: show every frame (late frames delay the next ones) or keep the clip's time
#: (late frames are skipped).
EVERY_FRAME = "every frame"
KEEP_TIME = "keep time"
#: In "every frame" playback with audio, how far (seconds) the audio may run beyond the end of the
#: frames shown before it waits for the next one. More than the audio device's own buffering (about
#: 0.1-0.2 s with Qt and PulseAudio), so that sound on time never runs dry.
AUDIO_SLACK = 0.25


def describe_error(error: BaseException) -> str:
    """The text the previewer shows for an error: what failed, then the traceback that explains it."""
    if isinstance(error, ExecutionError):
        return f"{error}\n\n{error.script_traceback}"
    return "".join(traceback.format_exception_only(error)).strip()


def _fixed_font() -> QtGui.QFont:
    return QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)


class _SeekSlider(QtWidgets.QSlider):
    """A slider whose click jumps to the clicked point (instead of a page step)."""

    def mousePressEvent(self, event: QtGui.QMouseEvent | None) -> None:
        if event is None:
            return
        if event.button() == QtCore.Qt.MouseButton.LeftButton:
            option = QtWidgets.QStyleOptionSlider()
            self.initStyleOption(option)
            style = self.style()
            assert style is not None
            groove = style.subControlRect(
                QtWidgets.QStyle.ComplexControl.CC_Slider,
                option,
                QtWidgets.QStyle.SubControl.SC_SliderGroove,
                self,
            )
            handle = style.subControlRect(
                QtWidgets.QStyle.ComplexControl.CC_Slider,
                option,
                QtWidgets.QStyle.SubControl.SC_SliderHandle,
                self,
            )
            span = groove.width() - handle.width()
            x = int(mouse_position(event).x()) - groove.x() - handle.width() // 2
            value = QtWidgets.QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), x, max(span, 1))
            self.setValue(value)
            event.accept()
        super().mousePressEvent(event)


class PreviewWindow(QtWidgets.QWidget):
    """A previewer for a VapourSynth script's outputs (or the built-in test clip).

    Must be created on the Qt thread while qtinter's asyncio loop runs there (see
    :func:`vsengine_qt.setup`); ``policy`` makes the environment of each load; ``prefetch`` frames
    are rendered ahead during playback (default :func:`vsengine_qt.default_prefetch`); ``args``
    become global variables of the script (like ``vspipe --arg``). With ``auto_reload`` the script
    runs again when it or a local module it imports changes on disk. With ``state_file`` (a JSON
    file, see :class:`vsengine_qt._settings.StateFile`) the output, frame and zoom are remembered per
    script; ``output=None`` then starts on the remembered output. Call :meth:`reload` (F5) to run the
    script again in a new environment; the old one is disposed first. F1 lists the shortcuts. An
    audio output plays with the video (:meth:`select_audio`, :meth:`set_volume`,
    :meth:`set_muted`); where it cannot, :attr:`audio_status` says why.

    Signals: ``loaded()`` after a successful load, ``failed(str)`` with the text shown for an error,
    ``frameShown(int)`` after each frame is put on screen, ``outputChanged(int)`` when another
    output is shown, ``snapshotSaved(str)`` with the path of a saved snapshot.
    """

    loaded = Signal()
    failed = Signal(str)
    frameShown = Signal(int)
    outputChanged = Signal(int)
    snapshotSaved = Signal(str)

    def __init__(
        self,
        policy: Policy,
        script: str | os.PathLike[str] | None = None,
        output: int | None = 0,
        *,
        prefetch: int | None = None,
        args: Mapping[str, str] | None = None,
        auto_reload: bool = True,
        state_file: str | os.PathLike[str] | None = None,
        snapshot_dir: str | os.PathLike[str] | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._policy = policy
        self._prefetch = prefetch
        self._script = script
        self._args = dict(args or {})
        self._state = StateFile(state_file) if state_file is not None else None
        remembered = self._state.load(script) if self._state is not None else None
        self._output = output if output is not None else (remembered.output if remembered else 0)
        self._restore = remembered
        if snapshot_dir is None:
            snapshot_dir = Path(script).resolve().parent if script is not None else Path.cwd()
        self.snapshot_dir = Path(snapshot_dir)
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "PreviewWindow needs qtinter's asyncio loop running on the Qt thread: create it inside "
                "vsengine_qt.setup() (guest mode around app.exec()) or in a coroutine run by "
                "asyncio.run(..., loop_factory=qtinter.new_event_loop)"
            ) from None
        self._source: Source | None = None
        self._timeline: Timeline | None = None
        # The output's frames, one bundle per frame number: the image, the frame in its own format
        # (properties, pixel values) and, in the wipe view, the compared output's image. Seeking
        # asks it for one frame; playback paces it by the clock (the audio's, while audio plays).
        self._stream: FrameStream | None = None
        self._frame: vs.VideoFrame | None = None  # the output's frame on screen (source format)
        self._playing = False
        self._clock = AudioClock()
        self._audio: AudioPlayer | None = None
        self._audio_output: int | None = None  # the audio output played with the video
        self._audio_pending = False  # start the audio with the next frame shown (playback's first)
        self._audio_held = 0.0  # seconds of the clip shown since the audio started ("every frame")
        self._volume = 1.0
        self._muted = False
        #: What the window says about audio: what plays, or why nothing does.
        self.audio_status = ""
        self._load_task: asyncio.Task[None] | None = None
        self._scan_task: asyncio.Task[None] | None = None
        self._current = 0
        self._shown: int | None = None  # the frame number on screen
        self._compare_output: int | None = None
        self._updating_slider = False
        self._error: str | None = None
        self._help: ShortcutHelp | None = None
        self.speed = Fraction(1)
        self.mode = EVERY_FRAME

        self.view = FrameView()
        self.view.hovered.connect(self._on_hover)
        self.error_label = QtWidgets.QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setAlignment(_Align.AlignLeft | _Align.AlignTop)
        self.error_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("QLabel { color: #ff6b6b; background: #1e1e1e; padding: 12px; }")
        self.error_label.setFont(_fixed_font())
        self.pages = QtWidgets.QStackedWidget()
        self.pages.addWidget(self.view)
        self.pages.addWidget(self.error_label)
        self.panel = InfoPanel()
        splitter = QtWidgets.QSplitter()
        splitter.addWidget(self.pages)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([760, 280])

        self.outputs_bar = QtWidgets.QTabBar()
        self.outputs_bar.setFocusPolicy(_NoFocus)
        self.outputs_bar.setExpanding(False)
        self.outputs_bar.currentChanged.connect(self._on_tab)

        self.play_button = QtWidgets.QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._on_play_toggled)
        self.speed_box = QtWidgets.QComboBox()
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed}x", speed)
        self.speed_box.setCurrentIndex(SPEEDS.index(Fraction(1)))
        self.speed_box.currentIndexChanged.connect(self._on_speed)
        self.mode_box = QtWidgets.QComboBox()
        self.mode_box.addItems([EVERY_FRAME, KEEP_TIME])
        self.mode_box.currentTextChanged.connect(self.set_mode)
        self.audio_controls = AudioControls()
        self.audio_controls.hide()
        self.audio_box = self.audio_controls.outputs
        self.mute_box = self.audio_controls.mute_box
        self.volume_slider = self.audio_controls.volume_slider
        self.audio_label = self.audio_controls.label
        self.audio_box.currentIndexChanged.connect(self._on_audio_box)
        self.mute_box.toggled.connect(self.set_muted)
        self.volume_slider.valueChanged.connect(lambda value: self.set_volume(value / 100))
        self.reload_button = QtWidgets.QPushButton("Reload")
        self.reload_button.clicked.connect(self.reload)
        self.auto_reload_box = QtWidgets.QCheckBox("Auto-reload")
        self.watcher = ScriptWatcher(parent=self)
        self.watcher.changed.connect(self._on_file_changed)
        self.auto_reload_box.setChecked(auto_reload and script is not None)
        self.auto_reload_box.setEnabled(script is not None)
        self.watcher.set_enabled(self.auto_reload_box.isChecked())
        self.auto_reload_box.toggled.connect(self.watcher.set_enabled)
        self.slider = _SeekSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._on_slider)
        self.frame_label = QtWidgets.QLabel("frame -")
        self.time_label = QtWidgets.QLabel("--:--:--.---")
        self.state_label = QtWidgets.QLabel("")
        self.timing_label = QtWidgets.QLabel("")
        for label, widest in (
            (self.frame_label, "frame 000000 / 000000 failed"),
            (self.time_label, "00:00:00.000"),
            (self.timing_label, "00000.0 ms"),
            (self.state_label, "rendering..."),
        ):
            # Fixed widths: the slider keeps its place and size whatever the labels say.
            label.setFont(_fixed_font())
            label.setFixedWidth(label.fontMetrics().horizontalAdvance(widest) + 8)
        self.goto_box = QtWidgets.QLineEdit()
        self.goto_box.setPlaceholderText("frame or time (Enter)")
        self.goto_box.setMaximumWidth(180)
        self.goto_box.returnPressed.connect(self._on_goto)
        self.goto_box.hide()
        self.status = QtWidgets.QStatusBar()
        self.status.setSizeGripEnabled(False)
        self.pixel_label = QtWidgets.QLabel("")
        self.pixel_label.setFont(_fixed_font())
        self.status.addPermanentWidget(self.pixel_label)
        focusless: tuple[QtWidgets.QWidget, ...] = (
            self.play_button,
            self.speed_box,
            self.mode_box,
            self.reload_button,
            self.auto_reload_box,
            self.slider,
        )
        for widget in focusless:
            widget.setFocusPolicy(_NoFocus)  # the window's shortcuts get the keys, whatever was clicked

        controls = QtWidgets.QHBoxLayout()
        left: tuple[QtWidgets.QWidget, ...] = (
            self.play_button,
            self.speed_box,
            self.mode_box,
            self.frame_label,
            self.time_label,
            self.state_label,
            self.timing_label,
        )
        for widget in left:
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.goto_box)
        # The outputs' row carries the audio and script controls: in one row with the transport they
        # made the window at least 1,360 pixels wide (1,640 with Qt 5's fonts), wider than a laptop.
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.outputs_bar)
        top.addStretch(1)
        for widget in (self.audio_controls, self.auto_reload_box, self.reload_button):
            top.addWidget(widget)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.slider)
        layout.addLayout(controls)
        layout.addWidget(self.status)

        self._bind_shortcuts()
        self._update_title()
        self._set_enabled(False)
        self.reload()

    def _bind_shortcuts(self) -> None:
        for keys, _, name in SHORTCUTS:
            if name == "select_output":
                for digit in range(10):
                    self._add_shortcut(str(digit), lambda d=digit: self.select_output(d))
                continue
            self._add_shortcut(keys, getattr(self, name))
        self._add_shortcut("Ctrl+=", self.zoom_in)  # Ctrl++ without Shift on most layouts
        self._add_shortcut("Escape", self._hide_goto)

    def _add_shortcut(self, keys: str, slot: Any) -> None:
        action = _QAction(self)
        action.setShortcut(QtGui.QKeySequence(keys))
        action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda *_: slot())
        self.addAction(action)

    # -- state -----------------------------------------------------------------------------------

    @property
    def source(self) -> Source | None:
        """What is loaded (None while loading or after an error)."""
        return self._source

    @property
    def timeline(self) -> Timeline | None:
        return self._timeline

    @property
    def current_frame(self) -> int:
        return self._current

    @property
    def output(self) -> int:
        """The output shown (or to be shown once loaded)."""
        return self._output

    @property
    def compare_output(self) -> int | None:
        """The output :meth:`toggle_compare` and the wipe view compare with (the one shown before)."""
        return self._compare_output

    @property
    def frame(self) -> vs.VideoFrame | None:
        """The output's frame on screen, in its own format (for properties and pixel values)."""
        return self._frame

    @property
    def error_text(self) -> str | None:
        """The error on display, or None."""
        return self._error

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def audio(self) -> AudioPlayer | None:
        """The player of the audio output played with the video (None: no audio output, or audio
        cannot play here: :attr:`audio_status` says why)."""
        return self._audio

    @property
    def audio_output(self) -> int | None:
        """The audio output played with the video."""
        return self._audio_output

    @property
    def loading(self) -> bool:
        return self._load_task is not None and not self._load_task.done()

    @property
    def rendering(self) -> bool:
        """A frame was asked for and is not on screen yet (shown as "rendering...")."""
        return bool(self.state_label.text())

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.play_button, self.slider):
            widget.setEnabled(enabled)

    def _update_title(self) -> None:
        name = Path(self._script).name if self._script is not None else "test clip"
        self.setWindowTitle(f"{name} - output {self._output} - vsengine-qt preview")

    # -- loading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        """Dispose of what is loaded and run the script again in a new environment (F5).
        The output, the frame and the zoom are kept."""
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self._unload()
        self.status.showMessage("loading...")
        self._load_task = self._loop.create_task(self._load())

    async def _load(self) -> None:
        try:
            source = await load_source(self._policy, self._script, self._output, args=self._args)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._show_error(describe_error(exc))
            if self._script is not None:
                self.watcher.watch(script_files(self._script))
            return
        self._source = source
        self._error = None
        self.status.clearMessage()
        self.pages.setCurrentWidget(self.view)
        if self._script is not None:
            self.watcher.watch(source.files)
        self._fill_outputs_bar()
        self._attach_output()
        self._attach_audio()
        restore, self._restore = self._restore, None
        if restore is not None:
            self._current = restore.frame
            self.view.set_zoom(restore.zoom)
        self._set_enabled(True)
        self.seek(min(self._current, source.num_frames - 1))
        self.loaded.emit()

    def _fill_outputs_bar(self) -> None:
        source = self._source
        assert source is not None
        self.outputs_bar.blockSignals(True)
        try:
            while self.outputs_bar.count():
                self.outputs_bar.removeTab(0)
            for index in source.video_outputs:
                node = source.video(index)
                fmt = node.format.name if node.format is not None else "variable"
                self.outputs_bar.addTab(f"{index}: {node.width}x{node.height} {fmt}")
                self.outputs_bar.setTabData(self.outputs_bar.count() - 1, index)
            self._sync_tab()
        finally:
            self.outputs_bar.blockSignals(False)

    def _sync_tab(self) -> None:
        for tab in range(self.outputs_bar.count()):
            if self.outputs_bar.tabData(tab) == self._output:
                self.outputs_bar.blockSignals(True)
                self.outputs_bar.setCurrentIndex(tab)
                self.outputs_bar.blockSignals(False)

    def _attach_output(self) -> None:
        """The stream and labels for the source's selected output."""
        source = self._source
        assert source is not None
        self._close_streams()
        self._timeline = Timeline.of(source.node)
        self._open_stream()
        self._updating_slider = True
        try:
            self.slider.setRange(0, source.num_frames - 1)
        finally:
            self._updating_slider = False
        self.panel.clip.set_rows(clip_info(source.node, None, self._timeline))
        self._update_title()
        if self._timeline.variable:
            self._scan_task = self._loop.create_task(self._scan_durations(source, self._timeline))

    def _open_stream(self) -> None:
        source = self._source
        assert source is not None
        nodes = [source.image_node, source.node]
        transforms: list[Callable[[vs.VideoFrame], Any] | None] = [frame_to_qimage, None]
        if self.view.wipe is not None and self._compare_output is not None:
            try:
                nodes.append(source.compare_image_node(self._compare_output))
            except (LookupError, TypeError) as exc:
                self.status.showMessage(str(exc), 5000)
                self.view.set_wipe(None)
            else:
                transforms.append(frame_to_qimage)
        self._stream = FrameStream(
            nodes, prefetch=self._prefetch, transform=transforms, loop=self._loop, clock=self._clock
        )
        self._stream.frameReady.connect(self._on_frame)
        self._stream.frameFailed.connect(self._on_frame_failed)
        self._stream.finished.connect(self._on_finished)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
            stream.deleteLater()

    def _close_streams(self) -> None:
        self._close_stream()
        if self._scan_task is not None:
            self._scan_task.cancel()
            self._scan_task = None
        self._frame = None

    def _unload(self) -> None:
        self._stop_playing()
        self._save_state()
        self._close_streams()
        self._close_audio()
        self.view.set_image(None)
        self.view.set_compare(None)
        self.frame_label.setText("frame -")
        self.time_label.setText("--:--:--.---")
        self.timing_label.setText("")
        self.state_label.setText("")
        self.panel.clear()
        self._shown = None
        self._timeline = None
        source, self._source = self._source, None
        if source is not None:
            source.dispose()
        self._set_enabled(False)

    def _show_error(self, text: str) -> None:
        self._error = text
        self.error_label.setText(text)
        self.pages.setCurrentWidget(self.error_label)
        self.state_label.setText("")
        self.status.clearMessage()
        self.failed.emit(text)

    def closeEvent(self, event: QtGui.QCloseEvent | None) -> None:
        self.dispose()
        if event is not None:
            super().closeEvent(event)

    def dispose(self) -> None:
        """Stop everything and dispose the loaded environment (also done when the window closes)."""
        if self._load_task is not None:
            self._load_task.cancel()
        self.watcher.stop()
        self._unload()
        if self._help is not None:
            self._help.close()

    def _on_file_changed(self, path: str) -> None:
        self.status.showMessage(f"{Path(path).name} changed: reloading")
        self.reload()

    # -- remembered state ------------------------------------------------------------------------

    def _save_state(self) -> None:
        if self._state is None or self._source is None:
            return
        self._state.save(self._script, ScriptState(self._output, self._current, self.view.zoom))

    # -- outputs ---------------------------------------------------------------------------------

    def select_output(self, index: int) -> None:
        """Show video output ``index`` at the same frame (number keys 0-9); the output shown before
        becomes the compared one. An audio output is played with the video instead
        (:meth:`select_audio`)."""
        source = self._source
        if index == self._output:
            return
        if source is not None and index in source.audio_outputs:
            self.select_audio(index)
            return
        if source is None:
            self._output = index
            self._update_title()
            return
        try:
            source.select(index)
        except (LookupError, TypeError) as exc:
            self.status.showMessage(str(exc), 5000)
            return
        self._stop_playing()
        self._compare_output, self._output = self._output, index
        self._sync_tab()
        self._attach_output()
        self.outputChanged.emit(index)
        self.seek(self._current)

    def _on_tab(self, tab: int) -> None:
        index = self.outputs_bar.tabData(tab)
        if isinstance(index, int):
            self.select_output(index)

    def toggle_compare(self) -> None:
        """Switch to the compared output and back (C), at the same frame."""
        if self._compare_output is not None:
            self.select_output(self._compare_output)

    def toggle_wipe(self) -> None:
        """Split view (W): this output left of the divider, the compared one right of it (its frames
        come with this output's, in the same bundle, also during playback)."""
        if self.view.wipe is not None:
            self.view.set_wipe(None)
            self.view.set_compare(None)
        elif self._compare_output is None or self._source is None:
            self.status.showMessage(
                "wipe: show another output first (number keys); it is compared with", 5000
            )
            return
        else:
            self.view.set_wipe(0.5)
        if self._source is not None:
            self._close_stream()
            self._open_stream()
            self.seek(self._current)

    # -- navigation ------------------------------------------------------------------------------

    def seek(self, n: int) -> None:
        """Show frame ``n`` (clamped to the clip); while playing, playback continues from there."""
        if self._source is None:
            return
        n = max(0, min(n, self._source.num_frames - 1))
        self._current = n
        self._set_slider(n)
        if self._playing:
            self._start_playing(n)
        elif self._stream is not None:
            if self._shown != n or self.view.image is None:
                self.state_label.setText("rendering...")
            self._stream.seek(n, n + 1)

    def step_forward(self) -> None:
        self.seek(self._current + 1)

    def step_back(self) -> None:
        self.seek(self._current - 1)

    def _second(self) -> int:
        fps = self._source.fps if self._source is not None else Fraction(24)
        return max(1, round(fps))

    def second_forward(self) -> None:
        self.seek(self._current + self._second())

    def second_back(self) -> None:
        self.seek(self._current - self._second())

    def go_first(self) -> None:
        self.seek(0)

    def go_last(self) -> None:
        if self._source is not None:
            self.seek(self._source.num_frames - 1)

    def show_goto(self) -> None:
        """The go-to box (Ctrl+G): a frame number or a time; Enter goes, Escape closes it."""
        self.goto_box.show()
        self.goto_box.setFocus()
        self.goto_box.selectAll()

    def _hide_goto(self) -> None:
        self.goto_box.hide()
        self.setFocus()

    def go_to(self, text: str) -> None:
        """Go to a frame number (``1234``) or a time (``1:02.5``, ``62.5s``); a bad entry is said
        in the status bar."""
        try:
            where = parse_position(text)
        except ValueError as exc:
            self.status.showMessage(str(exc), 5000)
            return
        if isinstance(where, Fraction):
            if self._timeline is None:
                return
            where = self._timeline.frame_at(where)
        self.seek(where)

    def _on_goto(self) -> None:
        self.go_to(self.goto_box.text())
        self._hide_goto()

    def _set_slider(self, n: int) -> None:
        self._updating_slider = True
        try:
            self.slider.setValue(n)
        finally:
            self._updating_slider = False

    def _on_slider(self, value: int) -> None:
        if not self._updating_slider:
            self.seek(value)

    # -- showing frames ----------------------------------------------------------------------

    def _on_frame(self, n: int, bundle: tuple[Any, ...], seconds: float) -> None:
        shown_at = self._clock.last_read  # the time the stream read to decide to show it
        image, frame, *compared = bundle
        self._current = n
        self._shown = n
        if self._error is not None:  # a frame failed earlier; this one did not: show frames again
            self._error = None
            self.pages.setCurrentWidget(self.view)
        self.view.set_image(image)
        if compared:
            self.view.set_compare(compared[0])
        total = self._source.num_frames if self._source is not None else 0
        self.frame_label.setText(f"frame {n} / {total - 1}")
        self.timing_label.setText(f"{seconds * 1000:6.1f} ms")
        self.state_label.setText("")
        self._set_slider(n)
        self._describe_frame(n, frame)
        if self._playing:
            self._follow_with_audio(n, shown_at)
        self.frameShown.emit(n)

    def _show_time(self, n: int) -> None:
        if self._timeline is not None:
            self.time_label.setText(self._timeline.describe(n))

    def _describe_frame(self, n: int, frame: vs.VideoFrame) -> None:
        """The frame on screen in its own format: its time, properties, the clip's colorimetry and
        the pixel under the cursor."""
        self._frame = frame
        props = frame.props
        if self._timeline is not None:
            self._timeline.learn(n, props)
        self._show_time(n)
        self.panel.props_title.setText(f"Frame properties (frame {n})")
        self.panel.props.set_rows(format_props(props))
        if self._source is not None:
            self.panel.clip.set_rows(clip_info(self._source.node, props, self._timeline))
        self._on_hover(self.view.hovered_pixel)

    def _on_finished(self) -> None:
        if self._playing:  # the end of the clip
            self._stop_playing()

    def _on_frame_failed(self, n: int, error: BaseException) -> None:
        self._stop_playing()
        self._shown = None
        total = self._source.num_frames if self._source is not None else 0
        self.frame_label.setText(f"frame {n} / {total - 1} failed")
        self._show_error(f"frame {n} failed to render:\n{describe_error(error)}")

    def _on_hover(self, pixel: tuple[int, int] | None) -> None:
        frame = self._frame
        if pixel is None or frame is None:
            self.pixel_label.setText("")
            return
        x, y = pixel
        try:
            values = format_value(pixel_value(frame, x, y))
        except IndexError:  # the frame differs in size from the image on screen (variable size)
            values = ""
        self.pixel_label.setText(f"x {x} y {y}  {values}")

    async def _scan_durations(self, source: Source, timeline: Timeline) -> None:
        """A variable-frame-rate clip: learn every frame's duration in the background."""
        async with FrameIterator(source.node, timeline.first_unknown(), prefetch=2, loop=self._loop) as it:
            async for delivered in it:
                timeline.learn(delivered.n, delivered.value.props)
        self._show_time(self._current)
        self.panel.clip.set_rows(clip_info(source.node, self._frame.props if self._frame else None, timeline))

    # -- zoom ------------------------------------------------------------------------------------

    def zoom_in(self) -> None:
        self.view.zoom_in()

    def zoom_out(self) -> None:
        self.view.zoom_out()

    def zoom_fit(self) -> None:
        self.view.set_zoom(None)

    def zoom_actual(self) -> None:
        self.view.set_zoom(1.0)

    def toggle_panel(self) -> None:
        self.panel.setVisible(not self.panel.isVisible())

    # -- snapshots -------------------------------------------------------------------------------

    def snapshot_name(self) -> str:
        return snapshot_name(self._script, self._output, self._current)

    def save_snapshot(self) -> Path | None:
        """Save the frame on screen (full size) as a PNG in :attr:`snapshot_dir` (Ctrl+S)."""
        image = self.view.image
        if image is None or self._shown is None:
            return None
        try:
            path = save_snapshot(
                image, self.snapshot_dir, snapshot_name(self._script, self._output, self._shown)
            )
        except OSError as exc:
            self.status.showMessage(f"snapshot not saved: {exc}", 8000)
            return None
        self.status.showMessage(f"saved {path}", 5000)
        self.snapshotSaved.emit(str(path))
        return path

    def copy_snapshot(self) -> None:
        """Copy the frame on screen (full size) to the clipboard (Ctrl+C)."""
        image = self.view.image
        if image is None or self._shown is None:
            return
        name = snapshot_name(self._script, self._output, self._shown)
        copy_snapshot(image)
        self.status.showMessage(f"copied {name} to the clipboard", 5000)

    # -- help and errors -------------------------------------------------------------------------

    def show_help(self) -> None:
        """The shortcut table (F1)."""
        if self._help is None:
            self._help = ShortcutHelp(self)
        self._help.show()
        self._help.raise_()

    @property
    def help_dialog(self) -> ShortcutHelp | None:
        return self._help

    @classmethod
    def report_uncaught(cls, error: BaseException) -> None:
        """Show an error nobody caught (in a Qt slot, say) in the status bar of every open window."""
        # Qt's list of widgets, not a WeakSet of ours: PySide6 frees a wrapper that dies during the
        # interpreter's finalization without clearing its weak references, and the garbage
        # collection that follows touches the freed memory (docs/reliability.md,
        # pyside6-weakref-at-finalization). An uncaught error's traceback in sys.last_exc keeps the
        # window alive until then.
        for widget in QtWidgets.QApplication.allWidgets():
            if isinstance(widget, cls) and not widget.isHidden():
                widget.status.showMessage(f"error: {type(error).__name__}: {error}", 15000)

    # -- playback ------------------------------------------------------------------------------

    def play(self) -> None:
        if not self.play_button.isChecked():
            self.play_button.setChecked(True)

    def pause(self) -> None:
        if self.play_button.isChecked():
            self.play_button.setChecked(False)

    def toggle_play(self) -> None:
        self.play_button.toggle()

    def set_speed(self, speed: Fraction | float) -> None:
        """Play at ``speed`` times the clip's rate."""
        speed = Fraction(speed)
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        if speed in SPEEDS:
            self.speed_box.blockSignals(True)
            self.speed_box.setCurrentIndex(SPEEDS.index(speed))
            self.speed_box.blockSignals(False)
        if self.playing:
            self._start_playing(self._current + 1)

    def _on_speed(self, index: int) -> None:
        self.set_speed(SPEEDS[index])

    def set_mode(self, mode: str) -> None:
        """``"every frame"`` (late frames delay playback, and the audio waits for them) or
        ``"keep time"`` (late frames are skipped)."""
        if mode not in (EVERY_FRAME, KEEP_TIME):
            raise ValueError(f"playback mode must be {EVERY_FRAME!r} or {KEEP_TIME!r}, got {mode!r}")
        changed = mode != self.mode
        self.mode = mode
        if self.mode_box.currentText() != mode:
            self.mode_box.setCurrentText(mode)
        if changed and self._playing:
            self._start_playing(self._current + 1)

    def _on_play_toggled(self, checked: bool) -> None:
        self.play_button.setText("Pause" if checked else "Play")
        if checked and self._source is not None:
            start = self._current + 1 if self._current + 1 < self._source.num_frames else 0
            self._start_playing(start)
        elif not checked:
            self._stop_playing()

    def _start_playing(self, start: int) -> None:
        """Play from frame ``start`` through the output's stream, paced by :attr:`_clock`; the
        audio starts with the first frame shown."""
        stream = self._stream
        if stream is None:
            return
        self._stop_audio()
        self._playing = True
        self._audio_pending = self._audio_can_start(start)
        policy: PlaybackPolicy = "drop"
        if self.mode == EVERY_FRAME:
            # With sound the clock is the audio, which waits for a late frame: then the frames
            # keep to the clip's timeline (and catch up), so picture and sound stay together.
            policy = "catch_up" if self._audio_pending else "every"
        stream.play(start, speed=float(self.speed), policy=policy)

    def _stop_playing(self, keep_button: bool = False) -> None:
        if self._playing:
            self._playing = False
            if self._stream is not None:
                self._stream.stop()
        self._stop_audio()
        if not keep_button and self.play_button.isChecked():
            self.play_button.blockSignals(True)
            self.play_button.setChecked(False)
            self.play_button.setText("Play")
            self.play_button.blockSignals(False)

    # -- audio -----------------------------------------------------------------------------------

    def _attach_audio(self) -> None:
        """A player for the chosen audio output of the source (the first one by default)."""
        self._close_audio()
        source = self._source
        assert source is not None
        outputs = source.audio_outputs
        if not outputs:
            self.audio_status = ""
            self.audio_controls.set_outputs([], None)
            return
        if self._audio_output not in outputs:
            self._audio_output = outputs[0]
        described = []
        for index in outputs:
            node = source.outputs[index]
            assert isinstance(node, vs.AudioNode)
            described.append((index, f"{index}: {node.num_channels} ch {node.sample_rate} Hz"))
        self.audio_controls.set_outputs(described, self._audio_output)
        try:
            self._audio = AudioPlayer(
                source.audio_node(self._audio_output), self._clock, loop=self._loop, parent=self
            )
        except AudioUnavailable as exc:
            self.audio_status = str(exc)
            self.audio_controls.set_unavailable(self.audio_status)
            return
        self._audio.set_volume(self._volume)
        self._audio.set_muted(self._muted)
        self._audio.failed.connect(self._on_audio_failed)
        self.audio_status = f"playing audio output {self._audio_output} on {self._audio.device_name}"
        self.audio_controls.set_unavailable(None)

    def _close_audio(self) -> None:
        audio, self._audio = self._audio, None
        if audio is not None:
            audio.close()
            audio.deleteLater()

    def _stop_audio(self) -> None:
        self._audio_pending = False
        if self._audio is not None:
            self._audio.stop()

    def _audio_can_start(self, start: int) -> bool:
        """Whether playback from frame ``start`` brings sound: at 1x, from a known time (a variable
        frame rate's times are learnt in the background); says why not in the status bar."""
        if self._audio is None or self._timeline is None:
            return False
        if self.speed == 1 and self._timeline.time(start) is not None:
            return True
        why = f"at {self.speed}x" if self.speed != 1 else "until the frame times are known"
        self.status.showMessage(f"no sound {why}: audio plays at 1x, from a known time", 5000)
        return False

    def _follow_with_audio(self, n: int, shown_at: float) -> None:
        """During playback, after frame ``n`` is shown (at the clock's ``shown_at``): the first frame
        starts the audio at its first sample, which stands for ``shown_at`` (from then on the
        stream's clock is the audio); in "every frame" mode the audio may run at most
        :data:`AUDIO_SLACK` beyond the end of the frames shown, so a late frame holds it back."""
        audio = self._audio
        timeline = self._timeline
        if audio is None or timeline is None:
            return
        if self._audio_pending:
            self._audio_pending = False
            start = timeline.time(n)
            assert start is not None  # _audio_can_start said so
            audio.play(round(start * audio.node.sample_rate), shown_at)
            self._audio_held = 0.0
        if not audio.playing:
            return
        if self.mode == EVERY_FRAME:
            self._audio_held += float(timeline.duration(n) or 0)
            audio.hold_at(self._audio_held + AUDIO_SLACK)
        else:
            audio.hold_at(None)

    def select_audio(self, index: int) -> None:
        """Play audio output ``index`` with the video (a number key on an audio output)."""
        source = self._source
        if source is None or index not in source.audio_outputs:
            self.status.showMessage(f"output {index} is not an audio output", 5000)
            return
        if index != self._audio_output or self._audio is None:
            self._audio_output = index
            self._attach_audio()
            if self._playing:
                self._start_playing(self._current + 1)
        self.status.showMessage(self.audio_status, 5000)

    def _on_audio_box(self, row: int) -> None:
        index = self.audio_box.itemData(row)
        if isinstance(index, int):
            self.select_audio(index)

    def set_volume(self, volume: float) -> None:
        """The audio's volume, 0.0 to 1.0 (linear)."""
        if not 0.0 <= volume <= 1.0:
            raise ValueError(f"volume must lie between 0.0 and 1.0, got {volume!r}")
        self._volume = volume
        if self._audio is not None:
            self._audio.set_volume(volume)
        value = round(volume * 100)
        if self.volume_slider.value() != value:
            self.volume_slider.setValue(value)

    def set_muted(self, muted: bool) -> None:
        """Silence the audio (M); playback keeps following it."""
        self._muted = muted
        if self._audio is not None:
            self._audio.set_muted(muted)
        if self.mute_box.isChecked() != muted:
            self.mute_box.setChecked(muted)

    def toggle_mute(self) -> None:
        self.set_muted(not self._muted)

    def _on_audio_failed(self, message: str) -> None:
        self.audio_status = message
        self.status.showMessage(message, 15000)
