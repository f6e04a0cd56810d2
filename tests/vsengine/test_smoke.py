import vapoursynth as vs

import vsengine


def test_version() -> None:
    assert vsengine.__version__


def test_blankclip_renders() -> None:
    assert vs.core.std.BlankClip(length=1).get_frame(0).width == 640
