"""Smoke test of a vsengine-qt wheel installed from the built files (run by `nox -s install`).

Converts a frame to a QImage on a QGuiApplication (offscreen) and checks its pixels.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import vapoursynth as vs
from PyQt6.QtGui import QGuiApplication

import vsengine_qt
from vsengine.policy import GlobalStore, Policy


def run() -> None:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv)
    with Policy(GlobalStore()) as policy, policy.new_environment() as env:
        with env.use():
            clip = vs.core.std.BlankClip(width=16, height=8, format=vs.RGB24, color=[255, 0, 0], length=2)
            node = vsengine_qt.qimage_node(clip)
        with node.get_frame(1) as f:
            image = vsengine_qt.frame_to_qimage(f)
        del clip, node
    assert (image.width(), image.height()) == (16, 8)
    colour = image.pixelColor(3, 3)
    assert (colour.red(), colour.green(), colour.blue()) == (255, 0, 0), colour.name()
    del app
    print("vsengine-qt smoke ok:", image.width(), "x", image.height(), colour.name())


if __name__ == "__main__":
    run()
