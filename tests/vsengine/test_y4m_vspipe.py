"""``render(y4m=True)`` writes byte for byte what VapourSynth's own ``vspipe -c y4m`` writes.

vspipe ships in the vapoursynth wheel, next to the interpreter. It runs only once
``vapoursynth config`` has written its configuration for this environment: the nox sessions do
that; run it once yourself before running these tests in another environment.

Each case runs the same script under vspipe and under vsengine: integer GRAY and YUV in every
chroma subsampling Y4M has a tag for, 8 to 32 bits, with rows that need padding, three frames of
different content and a variable frame rate.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import vapoursynth as vs

from vsengine.video import render
from vsengine.vpy import load_script

if TYPE_CHECKING:
    from vsengine.policy import ManagedEnvironment

VSPIPE = Path(sys.executable).with_name("vspipe")

SCRIPT = """\
import vapoursynth as vs

core = vs.core
family = {"gray": vs.GRAY, "yuv": vs.YUV}[family]
bits, ssw, ssh, fpsnum = int(bits), int(ssw), int(ssh), int(fpsnum)
if family == vs.GRAY:
    ssw = ssh = 0
fmt = core.query_video_format(family, vs.INTEGER, bits, ssw, ssh)
top = (1 << bits) - 1


def part(n, side):
    color = [top * (n + 1 + side) // (p + 5) for p in range(fmt.num_planes)]
    return core.std.BlankClip(
        width=6 << ssw, height=2 << ssh, format=fmt.id, length=1, fpsnum=fpsnum, fpsden=1001, color=color
    )


# Three different frames, each a different colour on the left and on the right.
clip = core.std.Splice([core.std.StackHorizontal([part(n, 0), part(n, 1)]) for n in range(3)])
clip.set_output()
"""

#: (family, bits, subsampling w, subsampling h, frame rate numerator; 0: variable frame rate)
CASES = (
    [("gray", bits, 0, 0, 30000) for bits in (8, 9, 10, 12, 16, 20, 32)]
    + [("yuv", bits, 1, 1, 30000) for bits in (8, 10, 16, 32)]
    + [("yuv", 8, ssw, ssh, 30000) for ssw, ssh in ((1, 0), (0, 0), (2, 2), (2, 0), (0, 1))]
    + [("yuv", 10, 1, 0, 30000), ("yuv", 12, 2, 2, 30000), ("yuv", 14, 0, 1, 30000)]
    + [("gray", 10, 0, 0, 0), ("yuv", 8, 1, 1, 0)]
)


def vspipe_y4m(script: Path, args: dict[str, str]) -> bytes:
    arguments = [part for key, value in args.items() for part in ("-a", f"{key}={value}")]
    command = [str(VSPIPE), "-c", "y4m", *arguments, str(script), "-"]
    result = subprocess.run(command, capture_output=True, timeout=120, check=False)
    if b"couldn't be determined" in result.stderr:
        pytest.fail(
            "vspipe is not configured for this environment: run `vapoursynth config` once in it "
            f"(the nox sessions do). vspipe said: {result.stderr.decode(errors='replace').strip()}"
        )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


@pytest.mark.parametrize(
    ("family", "bits", "ssw", "ssh", "fpsnum"),
    CASES,
    ids=[f"{f}{b}-{w}{h}" + ("-vfr" if not fps else "") for f, b, w, h, fps in CASES],
)
def test_render_y4m_is_what_vspipe_writes(
    env: ManagedEnvironment, tmp_path: Path, family: str, bits: int, ssw: int, ssh: int, fpsnum: int
) -> None:
    script = tmp_path / "clip.vpy"
    script.write_text(SCRIPT, encoding="utf-8")
    args = {"family": family, "bits": str(bits), "ssw": str(ssw), "ssh": str(ssh), "fpsnum": str(fpsnum)}
    expected = vspipe_y4m(script, args)

    module = types.ModuleType("__vapoursynth__")
    module.__dict__.update(args)  # what vspipe's -a does
    with load_script(script, env, module=module) as loaded:
        output = loaded.environment.outputs[0]
        assert isinstance(output, vs.VideoOutputTuple)
        chunks = list(render(output.clip, env, y4m=True))
        del output
    ours = b"".join(data for _, data in chunks)
    header_end = expected.index(b"\n") + 1
    assert ours[:header_end].decode() == expected[:header_end].decode()  # a readable diff first
    assert ours == expected
    assert [n for n, _ in chunks] == [0, 1, 2, 3]
