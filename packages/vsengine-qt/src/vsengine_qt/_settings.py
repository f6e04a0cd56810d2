"""The previewer's memory between runs: per script, the output, frame and zoom it was left at.

A small JSON file (``previewer.json`` in ``$XDG_CONFIG_HOME/vsengine-qt``, ``~/.config/vsengine-qt``
by default; ``VSENGINE_QT_STATE`` names another file) mapping each script's absolute path (or
``<test clip>``) to its state. Written atomically; a missing or unreadable file is an empty memory.
At most :data:`MAX_SCRIPTS` scripts are kept, the most recently used.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vsengine._clitools import atomic_file

__all__ = ["MAX_SCRIPTS", "ScriptState", "StateFile", "default_state_path"]

MAX_SCRIPTS = 200


@dataclass(frozen=True)
class ScriptState:
    """Where a script was left: its output, frame and zoom (None: fitted)."""

    output: int = 0
    frame: int = 0
    zoom: float | None = None

    @classmethod
    def from_json(cls, data: Any) -> ScriptState | None:
        if not isinstance(data, dict):
            return None
        output, frame, zoom = data.get("output", 0), data.get("frame", 0), data.get("zoom")
        if not (isinstance(output, int) and isinstance(frame, int) and output >= 0 and frame >= 0):
            return None
        if zoom is not None and not (isinstance(zoom, int | float) and zoom > 0):
            zoom = None
        return cls(output, frame, None if zoom is None else float(zoom))


def default_state_path() -> Path:
    named = os.environ.get("VSENGINE_QT_STATE")
    if named:
        return Path(named)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "vsengine-qt" / "previewer.json"


def _key(script: str | os.PathLike[str] | None) -> str:
    return "<test clip>" if script is None else os.path.realpath(script)


class StateFile:
    """The per-script states kept in the JSON file at ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        scripts = data.get("scripts") if isinstance(data, dict) else None
        return scripts if isinstance(scripts, dict) else {}

    def load(self, script: str | os.PathLike[str] | None) -> ScriptState | None:
        """The state the script was left in, or None."""
        return ScriptState.from_json(self._read().get(_key(script)))

    def save(self, script: str | os.PathLike[str] | None, state: ScriptState) -> None:
        """Remember ``state`` for the script (the most recent entry; the oldest beyond
        :data:`MAX_SCRIPTS` are dropped). An unwritable file is not an error: nothing is kept."""
        scripts = self._read()
        key = _key(script)
        scripts.pop(key, None)
        scripts[key] = asdict(state)
        kept = dict(list(scripts.items())[-MAX_SCRIPTS:])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(self.path) as f:
                f.write(json.dumps({"version": 1, "scripts": kept}, indent=1).encode("utf-8"))
        except OSError:
            pass
