"""Property-based tests of the Y4M output of ``vsengine.video.render``: the stream header for every
format VapourSynth can describe (supported ones get the tag ``vspipe -c y4m`` writes, the others a
``ValueError`` that names the problem), and the byte layout of the whole stream.
tests/vsengine/test_y4m_vspipe.py compares whole streams with the real vspipe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import vapoursynth as vs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vsengine._y4m import y4m_header
from vsengine.policy import GlobalStore, ManagedEnvironment, Policy
from vsengine.video import render

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Y4M's chroma tags by (subsampling_w, subsampling_h), written down independently of the code.
TAGS = {(1, 1): "420", (1, 0): "422", (0, 0): "444", (2, 2): "410", (2, 0): "411", (0, 1): "440"}

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def module_env() -> Iterator[ManagedEnvironment]:
    """One environment for all examples of the module (hypothesis reruns a test body many times)."""
    with Policy(GlobalStore()) as policy, policy.new_environment() as environment:
        yield environment


@st.composite
def formats(draw: st.DrawFn) -> tuple[int, int, int, int, int]:
    """(color family, sample type, bits, subsampling w, subsampling h) of any VapourSynth format."""
    family = draw(st.sampled_from([vs.GRAY, vs.YUV, vs.RGB]))
    sample_type = draw(st.sampled_from([vs.INTEGER, vs.FLOAT]))
    bits = draw(st.integers(8, 32)) if sample_type == vs.INTEGER else draw(st.sampled_from([16, 32]))
    ssw, ssh = (draw(st.integers(0, 4)), draw(st.integers(0, 4))) if family == vs.YUV else (0, 0)
    return family, sample_type, bits, ssw, ssh


def blank(env: ManagedEnvironment, spec: tuple[int, int, int, int, int], **kwargs: int) -> vs.VideoNode:
    family, sample_type, bits, ssw, ssh = spec
    with env.use():
        fmt = vs.core.query_video_format(family, sample_type, bits, ssw, ssh)
        return vs.core.std.BlankClip(format=fmt.id, **kwargs)


def expected_colorspace(fmt: vs.VideoFormat) -> str | None:
    """The colorspace tag of a supported format, None for one Y4M cannot carry."""
    if fmt.sample_type != vs.INTEGER or fmt.color_family not in (vs.GRAY, vs.YUV):
        return None
    bits = fmt.bits_per_sample
    if fmt.color_family == vs.GRAY:
        return "Cmono" if bits == 8 else f"Cmono{bits}"
    tag = TAGS.get((fmt.subsampling_w, fmt.subsampling_h))
    if tag is None:
        return None
    return f"C{tag}" if bits == 8 else f"C{tag}p{bits}"


@SETTINGS
@given(
    spec=formats(),
    width_blocks=st.integers(1, 40),
    height_blocks=st.integers(1, 40),
    fps=st.tuples(st.integers(1, 240_000), st.integers(1, 1001)),
    length=st.integers(1, 100_000),
)
def test_header_for_every_format(
    module_env: ManagedEnvironment,
    spec: tuple[int, int, int, int, int],
    width_blocks: int,
    height_blocks: int,
    fps: tuple[int, int],
    length: int,
) -> None:
    _, _, _, ssw, ssh = spec
    clip = blank(
        module_env,
        spec,
        width=width_blocks << ssw,
        height=height_blocks << ssh,
        fpsnum=fps[0],
        fpsden=fps[1],
        length=length,
    )
    assert clip.format is not None
    colorspace = expected_colorspace(clip.format)
    if colorspace is None:
        # Refused before any frame is requested, with the format's problem in the message.
        with pytest.raises(ValueError, match=r"cannot write Y4M: .*(RGB|floating-point|chroma subsampling)"):
            render(clip, module_env, y4m=True)
        return
    header = y4m_header(clip).decode("ascii")
    # VapourSynth reduces the frame rate fraction; the header carries the clip's own fraction.
    assert header == (
        f"YUV4MPEG2 {colorspace} W{clip.width} H{clip.height} F{clip.fps_num}:{clip.fps_den} Ip A0:0 "
        f"XLENGTH={length}\n"
    )
    assert header.count("\n") == 1
    assert header.isascii()


@settings(max_examples=40, deadline=None)
@given(
    spec=formats().filter(lambda s: s[0] != vs.RGB and s[1] == vs.INTEGER and (s[3], s[4]) in TAGS),
    width_blocks=st.integers(1, 6),
    height_blocks=st.integers(1, 6),
    length=st.integers(1, 6),
    prefetch=st.integers(0, 4),
)
def test_stream_is_header_then_frame_marker_and_packed_planes(
    module_env: ManagedEnvironment,
    spec: tuple[int, int, int, int, int],
    width_blocks: int,
    height_blocks: int,
    length: int,
    prefetch: int,
) -> None:
    _, _, bits, ssw, ssh = spec
    width, height = width_blocks << ssw, height_blocks << ssh
    clip = blank(module_env, spec, width=width, height=height, length=length)
    assert clip.format is not None
    sample_bytes = 1 if bits == 8 else 2 if bits <= 16 else 4
    plane_sizes = [width * height] + [(width >> ssw) * (height >> ssh)] * (clip.format.num_planes - 1)
    chunks = list(render(clip, module_env, prefetch=prefetch, y4m=True))
    assert [n for n, _ in chunks] == list(range(length + 1))
    assert chunks[0][1] == y4m_header(clip)
    for _, data in chunks[1:]:
        assert data.startswith(b"FRAME\n")
        assert len(data) == 6 + sample_bytes * sum(plane_sizes)
