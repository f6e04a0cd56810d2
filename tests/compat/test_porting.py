"""The run-time patcher of ``nox -s compat`` (porting.py), and the porting guide that shows its patches.

The patches themselves are exercised on the real programs by ``nox -s compat -- port``; here
``apply`` runs on a small package of our own, and docs/vsengine-qt/porting.md is checked to show
exactly the code the patches apply (its ```py blocks are hunks of another program, so the docs
test does not run them: this test keeps them true instead).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import port_vspreview
import port_vsview
import pytest
from porting import Hunk, PortError, apply, calls, defines, is_import, mentions

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "vsengine-qt" / "porting.md"

ORIGINAL = """\
import os
import sys

if sys:
    import json


class Player:
    def __init__(self):
        self.buffer = []
        self.timer = None

    def play(self):
        self.buffer.append(1)
        self.buffer.append(2)
        if os:
            self.timer.start(0)
        else:
            self.timer.start(40)

    def helper(self):
        return 1


def unused():
    return 2


def tail():
    return 3
"""


def package(tmp_path: Path) -> Path:
    root = tmp_path / "installed" / "prog"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "player.py").write_text(ORIGINAL)
    return root


def test_hunks_replace_insert_and_remove_by_syntax_tree(tmp_path: Path) -> None:
    hunks = [
        Hunk(
            "player.py",
            "",
            "import stream\n",
            "import",
            where=is_import,
            nth=-1,
            nested=False,
            position="after",
        ),
        Hunk("player.py", "Player.play", "self.stream = stream.open()\n", "fill", where=mentions("buffer")),
        Hunk(
            "player.py", "Player.play", "self.stream.seek()\n", "fast", where=calls("self.timer.start"), nth=0
        ),
        Hunk(
            "player.py",
            "Player.play",
            "self.stream.play()\n",
            "paced",
            where=calls("self.timer.start"),
            nth=1,
        ),
        Hunk("player.py", "Player", "class Stream:\n    pass\n\n\n", "before", position="before"),
        Hunk("player.py", "", "", "unused", where=defines("unused")),
    ]
    port = apply(package(tmp_path), hunks, tmp_path / "scratch")

    patched = (port.root / "prog" / "player.py").read_text()
    assert patched == textwrap.dedent("""\
        import os
        import sys
        import stream

        if sys:
            import json


        class Stream:
            pass


        class Player:
            def __init__(self):
                self.buffer = []
                self.timer = None

            def play(self):
                self.stream = stream.open()
                if os:
                    self.stream.seek()
                else:
                    self.stream.play()

            def helper(self):
                return 1


        def tail():
            return 3
        """)
    assert (port.root / "prog" / "__init__.py").exists()  # the rest of the package is copied
    assert (tmp_path / "installed" / "prog" / "player.py").read_text() == ORIGINAL  # never modified
    assert port.diff.startswith("--- a/prog/player.py\n+++ b/prog/player.py\n")
    assert (port.added, port.removed) == (8, 8)
    assert port.per_hunk[1] == ("player.py", "fill", 1, 2)  # code lines added, removed


@pytest.mark.parametrize(
    ("hunk", "message"),
    [
        (Hunk("player.py", "Player.stop", "", "gone"), "no definition 'Player.stop'"),
        (Hunk("player.py", "Player.play", "", "two", where=calls("self.timer.start")), "2 runs"),
        (Hunk("player.py", "Player.helper", "return (\n", "bad"), "does not compile"),
    ],
)
def test_a_hunk_that_does_not_fit_says_so(tmp_path: Path, hunk: Hunk, message: str) -> None:
    with pytest.raises(PortError, match=re.escape(message)):
        apply(package(tmp_path), [hunk], tmp_path / "scratch")


def test_overlapping_hunks_are_refused(tmp_path: Path) -> None:
    hunks = [
        Hunk("player.py", "Player", "", "the class"),
        Hunk("player.py", "Player.helper", "", "its method"),
    ]
    with pytest.raises(PortError, match="overlap"):
        apply(package(tmp_path), hunks, tmp_path / "scratch")


def test_the_guide_shows_exactly_the_code_the_patches_apply() -> None:
    shown = re.findall(r"^```py\n(.*?)^```$", GUIDE.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)
    applied = [
        textwrap.dedent(hunk.new).removeprefix("\n").strip("\n")
        for hunk in [*port_vsview.HUNKS, *port_vspreview.HUNKS]
        if hunk.new.strip() and not hunk.new.lstrip().startswith(("import ", "from "))
    ]
    assert sorted(block.strip("\n") for block in shown) == sorted(applied)
