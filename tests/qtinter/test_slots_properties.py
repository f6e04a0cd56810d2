"""Property-based tests of how ``qtinter.asyncslot`` fits arguments to the coroutine function.

For any positional signature (required parameters, parameters with defaults, ``*args`` or not):

- called directly, the wrapper takes exactly what the coroutine function takes: the coroutine gets
  the arguments (defaults filling the rest), and a call that does not fit raises ``TypeError``
  before any task exists;
- connected to a signal, the arguments beyond the ones the coroutine function accepts are dropped,
  as Qt does for ordinary slots.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interop_support import run
from pytestqt.qt_compat import qt_api

import qtinter

pytestmark = pytest.mark.usefixtures("qapp")

#: The most arguments the wrapper of a ``*args`` coroutine function accepts (qtinter's limit).
MAX_ARGS = 10


class Emitter(qt_api.QtCore.QObject):  # type: ignore[misc]
    s0 = qt_api.Signal()
    s1 = qt_api.Signal(int)
    s2 = qt_api.Signal(int, int)
    s3 = qt_api.Signal(int, int, int)


def coroutine_function(required: int, optional: int, star: bool, calls: list[tuple[Any, ...]]) -> Any:
    """An ``async def`` with *required* + *optional* positional parameters (and ``*args``) that
    records what it received; the defaults are -1, -2, ..."""
    names = [f"p{i}" for i in range(required + optional)]
    params = names[:required] + [f"{n}={-(i + 1)}" for i, n in enumerate(names[required:])]
    if star:
        params.append("*rest")
    received = "(" + "".join(f"{n}, " for n in names) + ")" + (" + rest" if star else "")
    namespace: dict[str, Any] = {"calls": calls}
    exec(f"async def fn({', '.join(params)}):\n    calls.append({received})\n", namespace)
    return namespace["fn"]


signatures = st.tuples(st.integers(0, 4), st.integers(0, 3), st.booleans())


@settings(max_examples=60, deadline=None)
@given(signature=signatures, calls=st.lists(st.integers(0, MAX_ARGS + 2), min_size=1, max_size=6))
@pytest.mark.parametrize("mode", ["owner", "guest"])
def test_direct_calls_take_what_the_coroutine_takes(
    mode: str, signature: tuple[int, int, bool], calls: list[int]
) -> None:
    required, optional, star = signature
    total = MAX_ARGS if star else required + optional

    async def main() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        received: list[tuple[Any, ...]] = []
        expected: list[tuple[Any, ...]] = []
        slot = qtinter.asyncslot(coroutine_function(required, optional, star, received))
        tasks = []
        for count in calls:
            args = tuple(range(100, 100 + count))
            before = len(asyncio.all_tasks())
            if required <= count <= total:
                tasks.append(slot(*args))
                defaults = tuple(-(i + 1) for i in range(optional))[max(0, count - required) :]
                expected.append(args + defaults)
            else:
                with pytest.raises(TypeError):
                    slot(*args)
                assert len(asyncio.all_tasks()) == before  # no task was started
        await asyncio.gather(*tasks)
        return received, expected

    received, expected = run(mode, main)
    assert received == expected


@settings(max_examples=40, deadline=None)
@given(signature=signatures, emitted=st.integers(0, 3))
def test_signal_arguments_beyond_the_accepted_ones_are_dropped(
    signature: tuple[int, int, bool], emitted: int
) -> None:
    required, optional, star = signature
    if required > emitted:  # Qt itself refuses a slot that needs more than the signal gives
        return
    accepted = emitted if star else min(emitted, required + optional)
    args = tuple(range(7, 7 + emitted))

    async def main() -> list[tuple[Any, ...]]:
        received: list[tuple[Any, ...]] = []
        emitter = Emitter()
        signal = getattr(emitter, f"s{emitted}")
        signal.connect(qtinter.asyncslot(coroutine_function(required, optional, star, received)))
        signal.emit(*args)
        for _ in range(3):
            await asyncio.sleep(0)
        return received

    defaults = tuple(-(i + 1) for i in range(optional))[max(0, accepted - required) :]
    assert run("owner", main) == [args[:accepted] + defaults]
