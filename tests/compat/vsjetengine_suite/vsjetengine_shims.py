"""pytest plugin loaded (``-p vsjetengine_shims``) before vsjetengine 2.0.0's own test suite runs on
vsengine-core: stand-ins for vsjetengine's private modules and names its tests import at module level.

The tests of those internals are out of scope (the runner deselects them, see OUT_OF_SCOPE in
run.py and docs/vsengine/compatibility.md); the stand-ins only let the modules that import them be
collected, so that their tests of public behaviour run. Public names are never stood in for: a
missing public name is a real incompatibility.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from typing import Any

import pytest

import vsengine.loops
import vsengine.vpy


def _private(name: str) -> Any:
    def unavailable(*args: object, **kwargs: object) -> Any:
        raise NotImplementedError(f"{name} is private to vsjetengine; vsengine-core has no equivalent")

    unavailable.__name__ = name.rsplit(".", 1)[-1]
    return unavailable


# vsengine._hospice: vsjetengine's delayed-release bookkeeping. Its conftest clears these containers
# around every test; _testutils hands admit_environment() the cores of its standalone policy.
hospice = types.ModuleType("vsengine._hospice")
hospice.stage1 = set()  # type: ignore[attr-defined]
hospice.stage2 = set()  # type: ignore[attr-defined]
hospice.stage2_to_add = set()  # type: ignore[attr-defined]
hospice.hold = set()  # type: ignore[attr-defined]
hospice.cores = {}  # type: ignore[attr-defined]
hospice.refnanny = {}  # type: ignore[attr-defined]
hospice.admit_environment = lambda environment, core: None  # type: ignore[attr-defined]
hospice.any_alive = lambda: False  # type: ignore[attr-defined]
hospice.freeze = lambda: None  # type: ignore[attr-defined]
hospice.unfreeze = lambda: None  # type: ignore[attr-defined]
sys.modules.setdefault("vsengine._hospice", hospice)

# vsengine._nodes: vsjetengine's frame-buffer helpers (test_video imports two of them).
nodes = types.ModuleType("vsengine._nodes")
nodes.buffer_futures = _private("vsengine._nodes.buffer_futures")  # type: ignore[attr-defined]
nodes.close_when_needed = _private("vsengine._nodes.close_when_needed")  # type: ignore[attr-defined]
sys.modules.setdefault("vsengine._nodes", nodes)

# Private classes test_loops/test_vpy import by name.
for module, name in (
    (vsengine.loops, "_NoEventLoop"),
    (vsengine.vpy, "_ModifiedArgv0"),
    (vsengine.vpy, "_ModifiedPath"),
):
    if not hasattr(module, name):
        setattr(module, name, _private(f"{module.__name__}.{name}"))


#: Where the names of threads still running after the session go (read by run.py).
LINGERING = os.environ.get("VSJETENGINE_SUITE_LINGERING")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """A test that leaves a non-daemon thread running makes the interpreter hang at exit: name the
    threads for the summary and leave without waiting for them."""
    lingering = [
        thread.name
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon and thread.is_alive()
    ]
    if not lingering:
        return
    if LINGERING:
        with open(LINGERING, "w", encoding="utf-8") as out:
            out.write("\n".join(lingering) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(getattr(config, "_vsjetengine_status", 1) or 1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._vsjetengine_status = int(exitstatus)  # type: ignore[attr-defined]
