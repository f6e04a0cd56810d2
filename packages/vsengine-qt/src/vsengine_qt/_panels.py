"""InfoPanel: the side panel of the previewer, the clip's info above the frame's properties."""

from __future__ import annotations

from vsengine_qt._qt import QtCore, QtWidgets

__all__ = ["InfoPanel", "KeyValueTable"]


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
