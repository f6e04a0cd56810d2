"""The previewer window: the frame, a seek slider, play/pause, the frame number and per-frame timing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import traceback
from typing import TYPE_CHECKING, Any

from vsengine.vpy import ExecutionError
from vsengine_qt._frames import Delivered, FrameIterator, FrameStream
from vsengine_qt._image import frame_to_qimage
from vsengine_qt._qt import QtCore, QtGui, QtWidgets, Signal
from vsengine_qt._source import Source, load_source

if TYPE_CHECKING:
    from vsengine.policy import Policy

__all__ = ["FrameView", "PreviewWindow", "describe_error"]

_Align = QtCore.Qt.AlignmentFlag
_QAction: Any = getattr(QtGui, "QAction", None) or getattr(QtWidgets, "QAction")  # noqa: B009 (Qt 6: QtGui; Qt 5: QtWidgets)


def describe_error(error: BaseException) -> str:
    """The text the previewer shows for an error: what failed, then the traceback that explains it."""
    if isinstance(error, ExecutionError):
        return f"{error}\n\n{error.script_traceback}"
    return "".join(traceback.format_exception_only(error)).strip()


class FrameView(QtWidgets.QWidget):
    """Shows a QImage scaled to fit (aspect ratio kept) on a black background."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QtGui.QImage | None = None
        self.setMinimumSize(160, 90)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding)

    @property
    def image(self) -> QtGui.QImage | None:
        return self._image

    def set_image(self, image: QtGui.QImage | None) -> None:
        self._image = image
        self.update()

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(960, 540)

    def image_rect(self) -> QtCore.QRect:
        """Where the image is drawn inside the widget (empty without an image)."""
        if self._image is None or self._image.isNull():
            return QtCore.QRect()
        size = self._image.size().scaled(self.size(), QtCore.Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - size.width()) // 2
        y = (self.height() - size.height()) // 2
        return QtCore.QRect(x, y, size.width(), size.height())

    def paintEvent(self, event: QtGui.QPaintEvent | None) -> None:
        painter = QtGui.QPainter(self)
        try:
            painter.fillRect(self.rect(), QtGui.QColor(0, 0, 0))
            if self._image is not None:
                painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform)
                painter.drawImage(self.image_rect(), self._image)
        finally:
            painter.end()


class PreviewWindow(QtWidgets.QWidget):
    """A previewer for a VapourSynth script's output (or the built-in test clip).

    Must be created on the Qt thread while qtinter's asyncio loop runs there (see
    :func:`vsengine_qt.setup`); ``policy`` makes the environment of each load; ``prefetch`` frames
    are rendered ahead during playback (default :func:`vsengine_qt.default_prefetch`). Call :meth:`reload`
    (F5) to run the script again in a new environment; the old one is disposed first.

    Signals: ``loaded()`` after a successful load, ``failed(str)`` with the text shown for an error,
    ``frameShown(int)`` after each frame is put on screen.
    """

    loaded = Signal()
    failed = Signal(str)
    frameShown = Signal(int)

    def __init__(
        self,
        policy: Policy,
        script: str | os.PathLike[str] | None = None,
        output: int = 0,
        *,
        prefetch: int | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._policy = policy
        self._prefetch = prefetch
        self._script = script
        self._output = output
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "PreviewWindow needs qtinter's asyncio loop running on the Qt thread: create it inside "
                "vsengine_qt.setup() (guest mode around app.exec()) or in a coroutine run by "
                "asyncio.run(..., loop_factory=qtinter.new_event_loop)"
            ) from None
        self._source: Source | None = None
        self._still: FrameStream | None = None
        self._play_task: asyncio.Task[None] | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._current = 0
        self._updating_slider = False
        self._error: str | None = None

        self.setWindowTitle(f"vsengine-qt preview: {os.fspath(script) if script else 'test clip'}")
        self.view = FrameView()
        self.error_label = QtWidgets.QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setAlignment(_Align.AlignLeft | _Align.AlignTop)
        self.error_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("QLabel { color: #ff6b6b; background: #1e1e1e; padding: 12px; }")
        self.error_label.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        self.pages = QtWidgets.QStackedWidget()
        self.pages.addWidget(self.view)
        self.pages.addWidget(self.error_label)

        self.play_button = QtWidgets.QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._on_play_toggled)
        self.reload_button = QtWidgets.QPushButton("Reload")
        self.reload_button.clicked.connect(self.reload)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._on_slider)
        self.frame_label = QtWidgets.QLabel("frame -")
        self.timing_label = QtWidgets.QLabel("")
        for label in (self.frame_label, self.timing_label):
            label.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))

        controls = QtWidgets.QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.frame_label)
        controls.addWidget(self.timing_label)
        controls.addWidget(self.reload_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addLayout(controls)

        for keys, slot in (
            ("F5", self.reload),
            ("Ctrl+R", self.reload),
            ("Space", self.play_button.toggle),
            ("Right", lambda: self.seek(self._current + 1)),
            ("Left", lambda: self.seek(self._current - 1)),
        ):
            action = _QAction(self)
            action.setShortcut(QtGui.QKeySequence(keys))
            action.triggered.connect(slot)
            self.addAction(action)

        self._set_enabled(False)
        self.reload()

    # -- state -----------------------------------------------------------------------------------

    @property
    def source(self) -> Source | None:
        """What is loaded (None while loading or after an error)."""
        return self._source

    @property
    def current_frame(self) -> int:
        return self._current

    @property
    def error_text(self) -> str | None:
        """The error on display, or None."""
        return self._error

    @property
    def playing(self) -> bool:
        return self._play_task is not None and not self._play_task.done()

    @property
    def loading(self) -> bool:
        return self._load_task is not None and not self._load_task.done()

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.play_button, self.slider):
            widget.setEnabled(enabled)

    # -- loading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        """Dispose of what is loaded and run the script again in a new environment (F5)."""
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self._unload()
        self._load_task = self._loop.create_task(self._load())

    async def _load(self) -> None:
        try:
            source = await load_source(self._policy, self._script, self._output)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._show_error(describe_error(exc))
            return
        self._source = source
        self._error = None
        self.pages.setCurrentWidget(self.view)
        self._still = FrameStream(source.image_node, prefetch=1, transform=frame_to_qimage, loop=self._loop)
        self._still.frameReady.connect(self._on_still)
        self._still.frameFailed.connect(self._on_frame_failed)
        self._updating_slider = True
        try:
            self.slider.setRange(0, source.num_frames - 1)
            self.slider.setValue(0)
        finally:
            self._updating_slider = False
        self._set_enabled(True)
        self.seek(min(self._current, source.num_frames - 1))
        self.loaded.emit()

    def _unload(self) -> None:
        self._stop_playing()
        if self._still is not None:
            self._still.close()
            self._still.deleteLater()
            self._still = None
        self.view.set_image(None)
        self.frame_label.setText("frame -")
        self.timing_label.setText("")
        source, self._source = self._source, None
        if source is not None:
            source.dispose()
        self._set_enabled(False)

    def _show_error(self, text: str) -> None:
        self._error = text
        self.error_label.setText(text)
        self.pages.setCurrentWidget(self.error_label)
        self.failed.emit(text)

    def closeEvent(self, event: QtGui.QCloseEvent | None) -> None:
        self.dispose()
        if event is not None:
            super().closeEvent(event)

    def dispose(self) -> None:
        """Stop everything and dispose the loaded environment (also done when the window closes)."""
        if self._load_task is not None:
            self._load_task.cancel()
        self._unload()

    # -- showing frames ----------------------------------------------------------------------

    def seek(self, n: int) -> None:
        """Show frame ``n`` (clamped to the clip); while playing, playback continues from there."""
        if self._source is None:
            return
        n = max(0, min(n, self._source.num_frames - 1))
        self._current = n
        self._set_slider(n)
        if self.playing:
            self._start_playing(n)
        elif self._still is not None:
            self._still.seek(n, n + 1)

    def _set_slider(self, n: int) -> None:
        self._updating_slider = True
        try:
            self.slider.setValue(n)
        finally:
            self._updating_slider = False

    def _on_slider(self, value: int) -> None:
        if not self._updating_slider:
            self.seek(value)

    def _display(self, n: int, image: QtGui.QImage, seconds: float) -> None:
        self._current = n
        if self._error is not None:  # a frame failed earlier; this one did not: show frames again
            self._error = None
            self.pages.setCurrentWidget(self.view)
        self.view.set_image(image)
        total = self._source.num_frames if self._source is not None else 0
        self.frame_label.setText(f"frame {n} / {total - 1}")
        self.timing_label.setText(f"{seconds * 1000:6.1f} ms")
        self._set_slider(n)
        self.frameShown.emit(n)

    def _on_still(self, n: int, image: QtGui.QImage, seconds: float) -> None:
        self._display(n, image, seconds)

    def _on_frame_failed(self, n: int, error: BaseException) -> None:
        self._stop_playing()
        self._show_error(f"frame {n} failed to render:\n{describe_error(error)}")

    # -- playback ------------------------------------------------------------------------------

    def play(self) -> None:
        if not self.play_button.isChecked():
            self.play_button.setChecked(True)

    def pause(self) -> None:
        if self.play_button.isChecked():
            self.play_button.setChecked(False)

    def _on_play_toggled(self, checked: bool) -> None:
        self.play_button.setText("Pause" if checked else "Play")
        if checked and self._source is not None:
            start = self._current + 1 if self._current + 1 < self._source.num_frames else 0
            self._start_playing(start)
        elif not checked:
            self._stop_playing()

    def _start_playing(self, start: int) -> None:
        self._stop_playing(keep_button=True)
        self._play_task = self._loop.create_task(self._play(start))

    def _stop_playing(self, keep_button: bool = False) -> None:
        task, self._play_task = self._play_task, None
        if task is not None:
            task.cancel()
        if not keep_button and self.play_button.isChecked():
            self.play_button.blockSignals(True)
            self.play_button.setChecked(False)
            self.play_button.setText("Play")
            self.play_button.blockSignals(False)

    async def _play(self, start: int) -> None:
        source = self._source
        if source is None:
            return
        period = 1 / float(source.fps)
        loop = self._loop
        iterator = FrameIterator(
            source.image_node, start, prefetch=self._prefetch, transform=frame_to_qimage, loop=loop
        )
        origin, first = loop.time(), start
        async with iterator:
            while True:
                try:
                    delivered: Delivered = await anext(iterator)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    self._show_error(
                        f"frame {iterator.pump.position - 1} failed to render:\n{describe_error(exc)}"
                    )
                    break
                delay = origin + (delivered.n - first) * period - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -period:
                    origin, first = loop.time(), delivered.n  # fell behind: don't rush to catch up
                self._display(delivered.n, delivered.value, delivered.seconds)
        if self._play_task is asyncio.current_task():
            self._play_task = None
            with contextlib.suppress(RuntimeError):
                self._stop_playing()
