"""The previewer's keyboard shortcuts, in one table: the window binds them and F1 shows them."""

from __future__ import annotations

from vsengine_qt._qt import QtCore, QtWidgets

__all__ = ["SHORTCUTS", "ShortcutHelp"]

#: (keys, what they do, the PreviewWindow method they call). Several keys may share a method.
SHORTCUTS: tuple[tuple[str, str, str], ...] = (
    ("Space", "play / pause", "toggle_play"),
    ("Right", "next frame", "step_forward"),
    ("Left", "previous frame", "step_back"),
    ("PgDown", "one second forward", "second_forward"),
    ("PgUp", "one second back", "second_back"),
    ("Home", "first frame", "go_first"),
    ("End", "last frame", "go_last"),
    ("Ctrl+G", "go to a frame or a time", "show_goto"),
    ("0-9", "show video output 0-9 (an audio output: play it with the video)", "select_output"),
    ("M", "mute / unmute the audio", "toggle_mute"),
    ("C", "compare: switch to the previously shown output (same frame)", "toggle_compare"),
    ("W", "wipe: split view of this output (left) and the compared one (right)", "toggle_wipe"),
    ("Ctrl++", "zoom in (also the mouse wheel)", "zoom_in"),
    ("Ctrl+-", "zoom out", "zoom_out"),
    ("Ctrl+0", "fit the frame to the window", "zoom_fit"),
    ("Ctrl+1", "actual size (1:1)", "zoom_actual"),
    ("Ctrl+S", "save the frame as PNG", "save_snapshot"),
    ("Ctrl+C", "copy the frame to the clipboard", "copy_snapshot"),
    ("Ctrl+P", "show / hide the frame properties", "toggle_panel"),
    ("F5", "reload the script", "reload"),
    ("Ctrl+R", "reload the script", "reload"),
    ("F1", "this help", "show_help"),
)


class ShortcutHelp(QtWidgets.QDialog):
    """A table of :data:`SHORTCUTS` (and what the mouse does)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("vsengine-qt preview: shortcuts")
        rows = [(keys, text) for keys, text, _ in SHORTCUTS] + [
            ("Wheel", "zoom around the cursor"),
            ("Drag", "pan the zoomed frame; on the wipe's divider: move it"),
            ("Slider click", "jump to that point"),
        ]
        self.table = QtWidgets.QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "Action"])
        self.table.verticalHeader().setVisible(False)  # type: ignore[union-attr,unused-ignore]
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, (keys, text) in enumerate(rows):
            self.table.setItem(row, 0, QtWidgets.QTableWidgetItem(keys))
            self.table.setItem(row, 1, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)  # type: ignore[union-attr,unused-ignore]
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 560)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, False)
