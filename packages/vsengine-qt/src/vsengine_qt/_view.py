"""FrameView: the frame on screen, fitted or zoomed, panned by dragging, optionally wiped against a
second frame (split view), and the image pixel under the cursor."""

from __future__ import annotations

import bisect

from vsengine_qt._qt import QtCore, QtGui, QtWidgets, Signal, mouse_position

__all__ = ["ZOOM_STEPS", "FrameView"]

#: The zoom factors the wheel and Ctrl+plus/minus step through.
ZOOM_STEPS = (0.125, 0.25, 1 / 3, 0.5, 2 / 3, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
#: From this scale on, pixels are drawn as squares (nearest neighbour), so they can be told apart.
NEAREST_FROM = 2.0
#: How close (in widget pixels) a press must be to the wipe's divider to drag it.
_GRAB = 6

_Button = QtCore.Qt.MouseButton


class FrameView(QtWidgets.QWidget):
    """Shows a QImage on a black background: fitted to the widget (aspect ratio kept) or at a zoom
    factor around a centre that dragging moves; with :meth:`set_compare` and a wipe position, the
    part right of the divider shows the other image (drag the divider to move it).

    Signals: ``hovered(object)`` with the image pixel ``(x, y)`` under the cursor (None outside the
    image), ``zoomChanged(object)`` with the zoom factor (None: fit).
    """

    hovered = Signal(object)
    zoomChanged = Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QtGui.QImage | None = None
        self._compare: QtGui.QImage | None = None
        self._wipe: float | None = None  # divider position, a fraction of the image's width
        self._zoom: float | None = None  # None: fit
        self._center = QtCore.QPointF()  # the image point at the widget's centre (zoomed)
        self._drag: tuple[str, QtCore.QPointF, QtCore.QPointF] | None = None
        self._hover: tuple[int, int] | None = None
        self.setMinimumSize(160, 90)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)

    # -- images ------------------------------------------------------------------------------------

    @property
    def image(self) -> QtGui.QImage | None:
        return self._image

    def set_image(self, image: QtGui.QImage | None) -> None:
        first = self._image is None or image is None or self._image.size() != image.size()
        self._image = image
        if first and image is not None and self._center.isNull():
            self._center = QtCore.QPointF(image.width() / 2, image.height() / 2)
        self.update()

    @property
    def compare_image(self) -> QtGui.QImage | None:
        return self._compare

    def set_compare(self, image: QtGui.QImage | None) -> None:
        """The image shown right of the wipe's divider (drawn in the same rectangle)."""
        self._compare = image
        self.update()

    @property
    def wipe(self) -> float | None:
        """The divider's position as a fraction of the image's width (None: no split view)."""
        return self._wipe

    def set_wipe(self, position: float | None) -> None:
        self._wipe = None if position is None else min(1.0, max(0.0, position))
        self.update()

    # -- geometry ----------------------------------------------------------------------------------

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(960, 540)

    @property
    def zoom(self) -> float | None:
        """The zoom factor (image pixels to screen pixels), or None when the image is fitted."""
        return self._zoom

    @property
    def scale(self) -> float:
        """The factor the image is drawn at now (also when fitted); 1.0 without an image."""
        if self._image is None or self._image.isNull() or self._image.width() == 0:
            return 1.0
        return self.image_rectf().width() / self._image.width()

    def image_rectf(self) -> QtCore.QRectF:
        """Where the image is drawn inside the widget (empty without an image)."""
        if self._image is None or self._image.isNull():
            return QtCore.QRectF()
        if self._zoom is None:
            size = self._image.size().scaled(self.size(), QtCore.Qt.AspectRatioMode.KeepAspectRatio)
            x = (self.width() - size.width()) // 2
            y = (self.height() - size.height()) // 2
            return QtCore.QRectF(x, y, size.width(), size.height())
        z = self._zoom
        left = self.width() / 2 - self._center.x() * z
        top = self.height() / 2 - self._center.y() * z
        return QtCore.QRectF(round(left), round(top), self._image.width() * z, self._image.height() * z)

    def image_rect(self) -> QtCore.QRect:
        """:meth:`image_rectf` in whole pixels."""
        return self.image_rectf().toRect()

    def to_image(self, point: QtCore.QPointF) -> QtCore.QPointF:
        """A widget position in image coordinates (pixel ``x`` spans ``[x, x + 1)``)."""
        rect = self.image_rectf()
        scale = self.scale
        return QtCore.QPointF((point.x() - rect.x()) / scale, (point.y() - rect.y()) / scale)

    def pixel_at(self, point: QtCore.QPointF) -> tuple[int, int] | None:
        """The image pixel under a widget position, or None outside the image."""
        if self._image is None:
            return None
        p = self.to_image(point)
        x, y = int(p.x() // 1), int(p.y() // 1)
        if 0 <= x < self._image.width() and 0 <= y < self._image.height():
            return x, y
        return None

    # -- zoom and pan ----------------------------------------------------------------------------

    def set_zoom(self, zoom: float | None, anchor: QtCore.QPointF | None = None) -> None:
        """Zoom to ``zoom`` (None: fit) keeping the image point under ``anchor`` (a widget position,
        default the centre) where it is."""
        if zoom is not None and zoom <= 0:
            raise ValueError(f"zoom must be positive (or None to fit), got {zoom}")
        if self._image is not None and zoom is not None:
            anchor = anchor if anchor is not None else QtCore.QPointF(self.width() / 2, self.height() / 2)
            fixed = self.to_image(anchor)
            offset = anchor - QtCore.QPointF(self.width() / 2, self.height() / 2)
            self._center = fixed - offset / zoom
            self._clamp_center()
        self._zoom = zoom
        self.update()
        self.zoomChanged.emit(zoom)

    def zoom_in(self, anchor: QtCore.QPointF | None = None) -> None:
        self.set_zoom(self._step(+1), anchor)

    def zoom_out(self, anchor: QtCore.QPointF | None = None) -> None:
        self.set_zoom(self._step(-1), anchor)

    def _step(self, direction: int) -> float:
        scale = self.scale
        if direction > 0:
            i = bisect.bisect_right(ZOOM_STEPS, scale * 1.0001)
            return ZOOM_STEPS[min(i, len(ZOOM_STEPS) - 1)]
        i = bisect.bisect_left(ZOOM_STEPS, scale * 0.9999) - 1
        return ZOOM_STEPS[max(i, 0)]

    def pan(self, dx: float, dy: float) -> None:
        """Move the image by ``(dx, dy)`` widget pixels (zoomed only; a fitted image stays put)."""
        if self._zoom is None:
            return
        self._center -= QtCore.QPointF(dx, dy) / self._zoom
        self._clamp_center()
        self.update()

    @property
    def center(self) -> QtCore.QPointF:
        """The image point at the widget's centre while zoomed."""
        return QtCore.QPointF(self._center)

    def _clamp_center(self) -> None:
        if self._image is None:
            return
        self._center = QtCore.QPointF(
            min(max(self._center.x(), 0.0), float(self._image.width())),
            min(max(self._center.y(), 0.0), float(self._image.height())),
        )

    # -- events ------------------------------------------------------------------------------------

    def _divider_x(self) -> float | None:
        if self._wipe is None or self._compare is None:
            return None
        rect = self.image_rectf()
        return rect.x() + rect.width() * self._wipe

    def mousePressEvent(self, event: QtGui.QMouseEvent | None) -> None:
        if event is None or event.button() != _Button.LeftButton:
            return
        position = mouse_position(event)
        divider = self._divider_x()
        kind = "wipe" if divider is not None and abs(position.x() - divider) <= _GRAB else "pan"
        self._drag = (kind, position, QtCore.QPointF(position))
        event.accept()

    def mouseMoveEvent(self, event: QtGui.QMouseEvent | None) -> None:
        if event is None:
            return
        position = mouse_position(event)
        if self._drag is not None:
            kind, _, last = self._drag
            if kind == "wipe":
                rect = self.image_rectf()
                if rect.width() > 0:
                    self.set_wipe((position.x() - rect.x()) / rect.width())
            else:
                self.pan(position.x() - last.x(), position.y() - last.y())
            self._drag = (kind, self._drag[1], QtCore.QPointF(position))
        self._set_hover(self.pixel_at(position))

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent | None) -> None:
        self._drag = None

    def leaveEvent(self, event: QtCore.QEvent | None) -> None:
        self._set_hover(None)

    def wheelEvent(self, event: QtGui.QWheelEvent | None) -> None:
        if event is None or self._image is None:
            return
        steps = event.angleDelta().y()
        if steps > 0:
            self.zoom_in(event.position())
        elif steps < 0:
            self.zoom_out(event.position())
        event.accept()

    def _set_hover(self, pixel: tuple[int, int] | None) -> None:
        if pixel != self._hover:
            self._hover = pixel
            self.hovered.emit(pixel)

    @property
    def hovered_pixel(self) -> tuple[int, int] | None:
        return self._hover

    def paintEvent(self, event: QtGui.QPaintEvent | None) -> None:
        painter = QtGui.QPainter(self)
        try:
            painter.fillRect(self.rect(), QtGui.QColor(0, 0, 0))
            image = self._image
            if image is None:
                return
            rect = self.image_rectf()
            smooth = self.scale < NEAREST_FROM
            painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, smooth)
            divider = self._divider_x()
            if divider is None or self._compare is None:
                painter.drawImage(rect, image)
                return
            # Left of the divider the frame, right of it the compared one, in the same rectangle.
            painter.save()
            painter.setClipRect(QtCore.QRectF(rect.x(), rect.y(), divider - rect.x(), rect.height()))
            painter.drawImage(rect, image)
            painter.setClipRect(QtCore.QRectF(divider, rect.y(), rect.right() - divider, rect.height()))
            painter.drawImage(rect, self._compare)
            painter.restore()
            painter.setPen(QtGui.QPen(QtGui.QColor(255, 255, 255), 1))
            painter.drawLine(QtCore.QPointF(divider, rect.top()), QtCore.QPointF(divider, rect.bottom()))
        finally:
            painter.end()
