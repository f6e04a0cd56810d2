"""VideoFrame -> QImage, checked pixel by pixel on real frames (real VapourSynth, real Qt)."""

from __future__ import annotations

import gc

import pytest
import vapoursynth as vs

from vsengine_qt import default_matrix, frame_to_qimage, qimage_node
from vsengine_qt._image import PACKED_PROP
from vsengine_qt._qt import QtGui
from vsengine_qt._testclip import BARS, HEIGHT, STRIP_HEIGHT, WIDTH, builtin_clip, marker_frame

Format = QtGui.QImage.Format


@pytest.fixture
def core(policy):  # type: ignore[no-untyped-def]
    with policy.new_environment() as env, env.use():
        yield env.core


def rgb_at(image: QtGui.QImage, x: int, y: int) -> tuple[int, int, int]:
    color = image.pixelColor(x, y)
    return color.red(), color.green(), color.blue()


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def every_pixel(image: QtGui.QImage) -> set[tuple[int, int, int]]:
    return {rgb_at(image, x, y) for y in range(image.height()) for x in range(image.width())}


# Odd widths make VapourSynth pad each row: the stride is larger than the row.
@pytest.mark.parametrize("width", [64, 101])
def test_gray8_every_pixel(core: vs.Core, width: int) -> None:
    clip = core.std.BlankClip(width=width, height=5, format=vs.GRAY8, color=[99], length=1)
    # A gradient row by row, so a wrong stride shows up as wrong values.
    clip = core.std.StackVertical([core.std.BlankClip(clip, height=1, color=[10 * y]) for y in range(5)])
    frame = clip.get_frame(0)
    image = frame_to_qimage(frame)
    assert image.format() == Format.Format_Grayscale8
    assert (image.width(), image.height()) == (width, 5)
    for y in range(5):
        assert {rgb_at(image, x, y) for x in range(width)} == {(10 * y,) * 3}


def test_gray16_keeps_sixteen_bits(core: vs.Core) -> None:
    clip = core.std.BlankClip(width=33, height=3, format=vs.GRAY16, color=[40000], length=1)
    image = frame_to_qimage(qimage_node(clip).get_frame(0))
    assert image.format() == Format.Format_Grayscale16
    assert {image.pixelColor(x, y).rgba64().red() for y in range(3) for x in range(33)} == {40000}


def test_gray10_becomes_gray16(core: vs.Core) -> None:
    clip = core.std.BlankClip(width=8, height=2, format=vs.GRAY10, color=[1023], length=1)
    image = frame_to_qimage(qimage_node(clip).get_frame(0))
    assert image.format() == Format.Format_Grayscale16
    # No _Range: taken as full range, where the top value stays the top value (not 1023 << 6).
    assert image.pixelColor(3, 1).rgba64().red() == 65535


@pytest.mark.parametrize("width", [64, 101])
@pytest.mark.parametrize("through_node", [True, False], ids=["qimage_node", "python-pack"])
def test_rgb24_every_pixel(core: vs.Core, width: int, through_node: bool) -> None:
    left = core.std.BlankClip(width=width, height=4, format=vs.RGB24, color=[10, 200, 30], length=1)
    right = core.std.BlankClip(left, color=[255, 0, 128])
    clip = core.std.StackVertical([left, right])
    node = qimage_node(clip) if through_node else clip
    image = frame_to_qimage(node.get_frame(0))
    assert image.format() == Format.Format_RGB32
    assert (image.width(), image.height()) == (width, 8)
    assert {rgb_at(image, x, y) for y in range(4) for x in range(width)} == {(10, 200, 30)}
    assert {rgb_at(image, x, y) for y in range(4, 8) for x in range(width)} == {(255, 0, 128)}


@pytest.mark.parametrize(
    ("fmt", "color", "expected"),
    [
        (vs.RGB48, [65535, 0, 32768], (255, 0, 128)),
        (vs.RGB30, [1023, 512, 0], (255, 128, 0)),
        (vs.RGBS, [1.0, 0.5, 0.0], (255, 128, 0)),
    ],
)
def test_high_bit_depth_rgb_through_8_bit(
    core: vs.Core, fmt: int, color: list[float], expected: tuple[int, ...]
) -> None:
    clip = core.std.BlankClip(width=16, height=2, format=fmt, color=color, length=1)
    image = frame_to_qimage(qimage_node(clip).get_frame(0))
    assert image.format() == Format.Format_RGB32
    assert every_pixel(image) == {expected}


def yuv(core: vs.Core, width: int, height: int, **props: int) -> vs.VideoNode:
    # Y=81, U=90, V=240 is pure red in BT.601 and orange-red in BT.709 (limited range).
    clip = core.std.BlankClip(width=width, height=height, format=vs.YUV420P8, color=[81, 90, 240], length=1)
    return core.std.SetFrameProps(clip, **props) if props else clip


BT709_RED = (255, 24, 0)
BT601_RED = (254, 0, 0)


def test_yuv_default_matrix_is_709_for_hd_and_601_for_sd(core: vs.Core) -> None:
    assert default_matrix(1920, 1080) == vs.MATRIX_BT709
    assert default_matrix(1280, 720) == vs.MATRIX_BT709
    assert default_matrix(720, 576) == vs.MATRIX_ST170_M
    assert default_matrix(640, 480) == vs.MATRIX_ST170_M
    hd = frame_to_qimage(qimage_node(yuv(core, 1920, 1080)).get_frame(0))
    sd = frame_to_qimage(qimage_node(yuv(core, 720, 480)).get_frame(0))
    assert every_pixel(hd.scaled(16, 9)) == {BT709_RED}
    assert every_pixel(sd.scaled(16, 9)) == {BT601_RED}


def test_yuv_matrix_comes_from_the_frame_properties(core: vs.Core) -> None:
    # An HD clip that says it is BT.601 is shown as BT.601, and "unspecified" (2) falls back.
    said_601 = frame_to_qimage(qimage_node(yuv(core, 1920, 1080, _Matrix=6)).get_frame(0))
    unspecified = frame_to_qimage(qimage_node(yuv(core, 1920, 1080, _Matrix=2)).get_frame(0))
    explicit = frame_to_qimage(qimage_node(yuv(core, 1920, 1080), matrix=vs.MATRIX_ST170_M).get_frame(0))
    assert rgb_at(said_601, 7, 7) == BT601_RED
    assert rgb_at(unspecified, 7, 7) == BT709_RED
    assert rgb_at(explicit, 7, 7) == BT601_RED


def test_test_clip_bars_and_marker(core: vs.Core) -> None:
    node = qimage_node(builtin_clip())
    assert node.get_frame(0).props[PACKED_PROP] == 1
    for n in (0, 5, 37):
        image = frame_to_qimage(node.get_frame(n))
        assert (image.width(), image.height()) == (WIDTH, HEIGHT)
        bar_width = WIDTH // len(BARS)
        for i, expected in enumerate(BARS):
            # The centre of each bar, below the frame number printed in the corner.
            assert close_to(rgb_at(image, i * bar_width + bar_width // 2, HEIGHT // 2), expected, 3)
        level = rgb_at(image, WIDTH // 2, HEIGHT - STRIP_HEIGHT // 2)
        assert marker_frame(level[0]) == n % 32


def test_image_outlives_its_frame(core: vs.Core) -> None:
    clip = core.std.BlankClip(width=64, height=4, format=vs.RGB24, color=[1, 2, 3], length=1)
    frame = qimage_node(clip).get_frame(0)
    image = frame_to_qimage(frame)
    del frame
    gc.collect()
    # Overwrite what the frame's memory held by rendering other frames.
    for _ in range(20):
        core.std.BlankClip(width=64, height=4, format=vs.RGB24, color=[200, 200, 200], length=1).get_frame(0)
    assert every_pixel(image) == {(1, 2, 3)}


def test_audio_is_refused_with_a_clear_error(core: vs.Core) -> None:
    audio = core.std.BlankAudio(length=100)
    with pytest.raises(TypeError, match="audio node"):
        qimage_node(audio)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="audio frame"):
        frame_to_qimage(audio.get_frame(0))  # type: ignore[arg-type]


def test_unconverted_yuv_frame_names_the_format_and_the_fix(core: vs.Core) -> None:
    frame = yuv(core, 64, 64).get_frame(0)
    with pytest.raises(ValueError, match=r"YUV420P8.*qimage_node"):
        frame_to_qimage(frame)


def test_not_a_node(core: vs.Core) -> None:
    with pytest.raises(TypeError, match="VideoNode"):
        qimage_node("clip.vpy")  # type: ignore[arg-type]


def test_variable_format_and_size_frame_by_frame(core: vs.Core) -> None:
    sd_yuv = yuv(core, 64, 32)
    rgb = core.std.BlankClip(width=32, height=16, format=vs.RGB24, color=[1, 2, 3], length=1)
    gray = core.std.BlankClip(width=16, height=8, format=vs.GRAY8, color=[77], length=1)
    variable = core.std.Splice([sd_yuv, rgb, gray], mismatch=True)
    node = qimage_node(variable)
    images = [frame_to_qimage(node.get_frame(n)) for n in range(3)]
    assert [(image.width(), image.height()) for image in images] == [(64, 32), (32, 16), (16, 8)]
    assert every_pixel(images[0]) == {BT601_RED}  # SD: BT.601
    assert every_pixel(images[1]) == {(1, 2, 3)}
    assert every_pixel(images[2]) == {(77, 77, 77)}  # grey shown as it is
