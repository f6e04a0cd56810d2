"""ScriptWatcher: tells when a script or one of its local modules changes on disk.

Editors save in different ways (rewrite in place, write a new file and rename it over the old
one, delete and create): each shows up as a change of the watched path, after which the path may
no longer be watched. The watcher re-adds its paths after every change and reports a burst of
changes once, when the burst is over (``settle`` milliseconds without a further change).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vsengine_qt._qt import QtCore, Signal

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["ScriptWatcher"]


class ScriptWatcher(QtCore.QObject):
    """Watches files; ``changed(str)`` names the first file of a burst of changes."""

    changed = Signal(str)

    def __init__(self, settle: int = 150, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._watcher = QtCore.QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._on_change)
        # A file replaced by rename can be missing for a moment: its directory's change tells
        # when it is back.
        self._watcher.directoryChanged.connect(self._on_directory)
        self._files: tuple[str, ...] = ()
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(settle)
        self._timer.timeout.connect(self._report)
        self._first: str | None = None
        self._enabled = True

    @property
    def files(self) -> tuple[str, ...]:
        return self._files

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        if not enabled:
            self._timer.stop()
            self._first = None

    def watch(self, files: Iterable[str]) -> None:
        """Watch exactly ``files`` (and their directories) from now on."""
        self._files = tuple(dict.fromkeys(os.path.abspath(f) for f in files))
        old = self._watcher.files() + self._watcher.directories()
        if old:
            self._watcher.removePaths(old)
        self._add()

    def stop(self) -> None:
        """Watch nothing; a change seen and not reported yet never will be."""
        self.watch(())
        self._timer.stop()
        self._first = None

    def _add(self) -> None:
        wanted = [f for f in self._files if os.path.exists(f)]
        wanted += sorted({os.path.dirname(f) for f in self._files})
        missing = [p for p in wanted if p not in self._watcher.files() + self._watcher.directories()]
        if missing:
            self._watcher.addPaths(missing)

    def _on_change(self, path: str) -> None:
        self._add()  # replaced or deleted files are no longer watched
        if self._enabled:
            self._first = self._first or path
            self._timer.start()

    def _on_directory(self, path: str) -> None:
        # Only a watched file that (re)appeared or disappeared counts: other files may come and go.
        present = set(self._watcher.files())
        for file in self._files:
            if os.path.dirname(file) == path and (os.path.exists(file) != (file in present)):
                self._on_change(file)
                return

    def _report(self) -> None:
        first, self._first = self._first, None
        if first is not None and self._enabled:
            self.changed.emit(first)
