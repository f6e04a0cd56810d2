"""The previewer's panels: the side panel (the clip's info above the frame's properties) and the
audio controls."""

from __future__ import annotations

from vsengine_qt._qt import QtCore, QtWidgets

__all__ = ["AudioControls", "InfoPanel", "KeyValueTable"]


class KeyValueTable(QtWidgets.QTableWidget):
    """A read-only two-column table of (name, value) rows that never takes the keyboard focus."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["Name", "Value"])
        self.verticalHeader().setVisible(False)  # type: ignore[union-attr,unused-ignore]
        self.horizontalHeader().setStretchLastSection(True)  # type: ignore[union-attr,unused-ignore]
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.setWordWrap(False)

    def set_rows(self, rows: list[tuple[str, str]]) -> None:
        self.setRowCount(len(rows))
        for row, (name, value) in enumerate(rows):
            for column, text in enumerate((name, value)):
                item = self.item(row, column)
                if item is None:
                    self.setItem(row, column, QtWidgets.QTableWidgetItem(text))
                elif item.text() != text:
                    item.setText(text)
        self.resizeColumnToContents(0)

    def rows(self) -> list[tuple[str, str]]:
        """What the table shows."""
        cells = []
        for row in range(self.rowCount()):
            name, value = self.item(row, 0), self.item(row, 1)
            cells.append((name.text() if name else "", value.text() if value else ""))
        return cells


class InfoPanel(QtWidgets.QWidget):
    """Clip info (``clip``) and the current frame's properties (``props``)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.clip = KeyValueTable()
        self.props = KeyValueTable()
        self.props_title = QtWidgets.QLabel("Frame properties")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QtWidgets.QLabel("Clip"))
        layout.addWidget(self.clip, 1)
        layout.addWidget(self.props_title)
        layout.addWidget(self.props, 2)
        self.setMinimumWidth(260)

    def clear(self) -> None:
        self.clip.set_rows([])
        self.props.set_rows([])
        self.props_title.setText("Frame properties")


class AudioControls(QtWidgets.QWidget):
    """The audio output played with the video (``outputs``), Mute (``mute_box``), the volume
    (``volume_slider``, 0-100) and ``label``: "no sound" when audio cannot play, with the reason in
    its tooltip. None of them takes the keyboard focus (the window's shortcuts keep the keys)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.outputs = QtWidgets.QComboBox()
        self.outputs.setToolTip("the audio output played with the video")
        self.mute_box = QtWidgets.QCheckBox("Mute")
        self.volume_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.volume_slider.setRange(0, 100)
        self.volume_slider.setValue(100)
        self.volume_slider.setFixedWidth(90)
        self.volume_slider.setToolTip("volume")
        self.label = QtWidgets.QLabel("")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QtWidgets.QLabel("Audio"))
        for widget in (self.outputs, self.label, self.mute_box, self.volume_slider):
            widget.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            layout.addWidget(widget)

    def set_outputs(self, outputs: list[tuple[int, str]], current: int | None) -> None:
        """``(output index, description)`` of each audio output; ``current`` is selected."""
        self.outputs.blockSignals(True)
        try:
            self.outputs.clear()
            for index, text in outputs:
                self.outputs.addItem(text, index)
                if index == current:
                    self.outputs.setCurrentIndex(self.outputs.count() - 1)
        finally:
            self.outputs.blockSignals(False)
        self.setVisible(bool(outputs))

    def set_unavailable(self, reason: str | None) -> None:
        """Say that audio cannot play (``reason`` in the tooltip), or that it can (None)."""
        self.label.setText("no sound" if reason else "")
        self.label.setToolTip(reason or "")
        self.label.setVisible(bool(reason))
        for widget in (self.mute_box, self.volume_slider):
            widget.setEnabled(reason is None)
