import vapoursynth as vs

import vsengine
from vsengine.policy import ManagedEnvironment


def test_version() -> None:
    assert vsengine.__version__


def test_blankclip_renders(env: ManagedEnvironment) -> None:
    assert vs.core.std.BlankClip(length=1).get_frame(0).width == 640
